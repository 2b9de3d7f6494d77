# Grafana Cloud objects that the design guide set up by hand, as code. Everything here
# has count/for_each 0 unless var.manage_grafana is true, so `terraform plan` needs no
# Grafana credentials (provider url null, see versions.tf).
#
#   folder          var.grafana_folder_title (uid ai-teams)
#   dashboards      every monitoring/dashboards/*.json, unchanged
#   alert rules     monitoring/alert-rules.yml (Prometheus rule format), converted to
#                   Grafana-managed rule groups the way Grafana's own import
#                   (/api/convert/prometheus) does it - see below
#   OnCall          integration + contact point; every alert of the folder routes to it
#                   through the rules' notification settings (the stack's notification
#                   policy tree is left alone)
#
# Why Grafana-managed rules and not the Mimir ruler (mimirtool): data source-managed
# alerting is deprecated in Grafana Cloud and no longer provisioned in new stacks;
# Grafana-managed rules are the supported path, and the grafana provider manages them.
#
# Conversion of one Prometheus rule (as Grafana's converter, pkg/services/ngalert/prom):
#   data "query"            the PromQL expr, instant, against grafanacloud-prom, last 10 min
#   alerting rules only:
#     data "prometheus_math"  is_number($query) || is_nan($query) || is_inf($query)
#     data "threshold"        prometheus_math > 0  (condition): any returned series fires
#     no data -> OK, query error -> Error, resolved on the first evaluation without the series
#   recording rules: record { metric = <record>, from = "query" } written to the same data source
# Template difference: in Grafana `$value` prints every node; annotations use
# `$values.query.Value` instead (rewritten here), which is Prometheus' $value.

locals {
  grafana_alert_rules_file = "${path.module}/../monitoring/alert-rules.yml"
  grafana_dashboards_dir   = "${path.module}/../monitoring/dashboards"

  grafana_contact_point = var.manage_grafana && var.manage_grafana_oncall ? grafana_contact_point.oncall[0].name : var.grafana_fallback_contact_point

  # The repository's rule groups (none while the file does not exist; the folder's
  # precondition refuses manage_grafana without it).
  prometheus_rule_groups = yamldecode(fileexists(local.grafana_alert_rules_file) ? file(local.grafana_alert_rules_file) : "groups: []").groups

  # Cloud-only replacement of CollectorDown: no heartbeat from an environment at all.
  telemetry_absent_group = {
    name = "cloud-telemetry"
    rules = [
      for env in var.grafana_telemetry_absent_environments : {
        alert = "NoTelemetry-${env}"
        expr  = "absent_over_time(service_uptime_seconds{environment=\"${env}\"}[10m])"
        "for" = "5m"
        labels = {
          severity    = "page"
          environment = env
        }
        annotations = {
          summary     = "No telemetry from ${env} for 10 minutes"
          description = "Grafana Cloud received no service_uptime_seconds sample from any service in ${env} for 10 minutes: the services, their collector sidecars or the export to Grafana Cloud are down."
          runbook_url = "docs/runbooks.md#collector-down"
        }
      }
    ]
  }

  # One normalised shape per rule, excluded rules dropped, empty groups dropped.
  grafana_rule_groups = {
    for group in concat(local.prometheus_rule_groups, length(var.grafana_telemetry_absent_environments) > 0 ? [local.telemetry_absent_group] : []) :
    group.name => {
      interval = try(group.interval, var.grafana_rule_default_interval)
      rules = [
        for rule in group.rules : {
          name    = try(rule.alert, rule.record)
          record  = try(rule.record, null)
          expr    = trimspace(rule.expr)
          pending = try(rule["for"], "0s")
          labels  = { for k, v in try(rule.labels, {}) : k => tostring(v) }
          annotations = {
            for k, v in try(rule.annotations, {}) : k => replace(tostring(v), "/\\$value\\b/", "$$values.query.Value")
          }
        } if !contains(var.grafana_excluded_rules, try(rule.alert, rule.record))
      ]
    }
    if length([for rule in group.rules : rule if !contains(var.grafana_excluded_rules, try(rule.alert, rule.record))]) > 0
  }

  grafana_rule_group_seconds = {
    for name, group in local.grafana_rule_groups :
    name => tonumber(regex("^([0-9]+)[smh]$", group.interval)[0]) * { s = 1, m = 60, h = 3600 }[regex("^[0-9]+([smh])$", group.interval)[0]]
  }

  # Expression nodes of an alerting rule (after the "query" node).
  grafana_alert_expression_nodes = [
    {
      ref_id = "prometheus_math"
      model = jsonencode({
        refId      = "prometheus_math"
        datasource = { type = "__expr__", uid = "__expr__" }
        type       = "math"
        expression = "is_number($query) || is_nan($query) || is_inf($query)"
      })
    },
    {
      ref_id = "threshold"
      model = jsonencode({
        refId      = "threshold"
        datasource = { type = "__expr__", uid = "__expr__" }
        type       = "threshold"
        expression = "prometheus_math"
        conditions = [{ evaluator = { type = "gt", params = [0] } }]
      })
    },
  ]
}

resource "grafana_folder" "ai_teams" {
  count = var.manage_grafana ? 1 : 0

  title                        = var.grafana_folder_title
  uid                          = "ai-teams"
  prevent_destroy_if_not_empty = true

  lifecycle {
    precondition {
      condition     = fileexists(local.grafana_alert_rules_file)
      error_message = "manage_grafana needs monitoring/alert-rules.yml."
    }
  }
}

resource "grafana_dashboard" "ai_teams" {
  for_each = var.manage_grafana ? fileset(local.grafana_dashboards_dir, "*.json") : toset([])

  config_json = file("${local.grafana_dashboards_dir}/${each.value}")
  folder      = grafana_folder.ai_teams[0].uid
  overwrite   = true
  message     = "terraform: monitoring/dashboards/${each.value}"
}

resource "grafana_rule_group" "ai_teams" {
  for_each = { for name, group in local.grafana_rule_groups : name => group if var.manage_grafana }

  name             = each.key
  folder_uid       = grafana_folder.ai_teams[0].uid
  interval_seconds = local.grafana_rule_group_seconds[each.key]

  dynamic "rule" {
    for_each = each.value.rules
    content {
      name        = rule.value.name
      labels      = rule.value.labels
      annotations = rule.value.annotations
      is_paused   = false

      # Alerting rules only (null leaves the argument unset for recording rules).
      condition                       = rule.value.record == null ? "threshold" : null
      for                             = rule.value.record == null ? rule.value.pending : null
      no_data_state                   = rule.value.record == null ? "OK" : null
      exec_err_state                  = rule.value.record == null ? "Error" : null
      missing_series_evals_to_resolve = rule.value.record == null ? 1 : null

      data {
        ref_id         = "query"
        datasource_uid = var.grafana_prometheus_datasource_uid
        relative_time_range {
          from = 600
          to   = 0
        }
        model = jsonencode({
          refId      = "query"
          datasource = { type = "prometheus", uid = var.grafana_prometheus_datasource_uid }
          expr       = rule.value.expr
          instant    = true
          range      = false
        })
      }

      dynamic "data" {
        for_each = rule.value.record == null ? local.grafana_alert_expression_nodes : []
        content {
          ref_id         = data.value.ref_id
          datasource_uid = "__expr__"
          relative_time_range {
            from = 0
            to   = 0
          }
          model = data.value.model
        }
      }

      dynamic "record" {
        for_each = rule.value.record == null ? [] : [rule.value.record]
        content {
          metric                = record.value
          from                  = "query"
          target_datasource_uid = var.grafana_prometheus_datasource_uid
        }
      }

      dynamic "notification_settings" {
        for_each = rule.value.record == null ? [local.grafana_contact_point] : []
        content {
          contact_point = notification_settings.value
          group_by      = ["alertname", "grafana_folder", "environment", "service"]
        }
      }
    }
  }
}

# Grafana OnCall (IRM): alerts arrive through this integration; escalation (who is
# paged how) is configured in OnCall, optionally as var.grafana_oncall_escalation_chain_id.
resource "grafana_oncall_integration" "ai_teams" {
  count = var.manage_grafana && var.manage_grafana_oncall ? 1 : 0

  name = "ai-teams"
  type = "grafana"

  default_route {
    escalation_chain_id = var.grafana_oncall_escalation_chain_id != "" ? var.grafana_oncall_escalation_chain_id : null
  }
}

resource "grafana_contact_point" "oncall" {
  count = var.manage_grafana && var.manage_grafana_oncall ? 1 : 0

  name = "ai-teams-oncall"

  oncall {
    url = grafana_oncall_integration.ai_teams[0].link
  }
}
