# Grafana Cloud settings and collector configuration in SSM Parameter Store.
#
#   /ai-teams/<environment>/monitoring/grafana-cloud-api-key   SecureString (KMS key below), write-only
#   /ai-teams/<environment>/monitoring/grafana-cloud-config    String, JSON: tenant id + every URL
#   /ai-teams/<environment>/monitoring/otel-collector-config   String, monitoring/otel-collector-config.yml
#   /ai-teams/<environment>/monitoring/otel-collector-cloud    String, monitoring/otel-collector-cloud.yml
#
# The collector sidecar (ecs.tf) receives the token and both config files as ECS
# secrets (valueFrom = these ARNs) and starts with
#   --config=env:OTEL_CONFIG_LOCAL --config=env:OTEL_CONFIG_CLOUD
# i.e. exactly the local profile + cloud overlay of the repository. The non-secret
# settings of grafana-cloud-config reach it as plain environment variables from the
# same local.grafana_cloud_settings, so the parameter and the task cannot disagree.

locals {
  # Full-line comments and blank lines are dropped: the local profile is ~9 KB with
  # its comments, over SSM's 8 KB limit, ~4 KB without. Nothing else changes.
  otel_config_local = join("\n", [
    for line in split("\n", file("${path.module}/../monitoring/otel-collector-config.yml")) :
    line if trimspace(line) != "" && !startswith(trimspace(line), "#")
  ])
  otel_config_cloud = join("\n", [
    for line in split("\n", file("${path.module}/../monitoring/otel-collector-cloud.yml")) :
    line if trimspace(line) != "" && !startswith(trimspace(line), "#")
  ])

  # Size in bytes (SSM counts bytes; length() counts characters).
  otel_config_local_b64   = base64encode(local.otel_config_local)
  otel_config_local_bytes = length(local.otel_config_local_b64) / 4 * 3 - (endswith(local.otel_config_local_b64, "==") ? 2 : endswith(local.otel_config_local_b64, "=") ? 1 : 0)
  otel_config_cloud_b64   = base64encode(local.otel_config_cloud)
  otel_config_cloud_bytes = length(local.otel_config_cloud_b64) / 4 * 3 - (endswith(local.otel_config_cloud_b64, "==") ? 2 : endswith(local.otel_config_cloud_b64, "=") ? 1 : 0)

  # Non-secret Grafana Cloud settings: the grafana-cloud-config JSON and the
  # collector's GRAFANA_CLOUD_* environment both come from here.
  grafana_cloud_settings = {
    tenant_id       = var.grafana_cloud_tenant_id
    prometheus_user = var.grafana_cloud_prometheus_user != "" ? var.grafana_cloud_prometheus_user : var.grafana_cloud_tenant_id
    prometheus_url  = var.grafana_cloud_prometheus_url
    loki_url        = var.grafana_cloud_loki_url
    otlp_url        = var.grafana_cloud_otlp_url
  }
}

# Customer-managed key of this environment's SecureString parameters: the Grafana
# Cloud token here and the services' secrets (service_secrets) that the operator
# writes with `--key-id alias/ai-teams-<environment>-ssm`. The default key policy
# (account root) applies; the execution roles in ecs.tf may only decrypt through SSM.
resource "aws_kms_key" "ssm" {
  description             = "ai-teams ${var.environment}: SSM SecureString parameters (Grafana Cloud token, service secrets)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "ssm" {
  name          = "alias/ai-teams-${var.environment}-ssm"
  target_key_id = aws_kms_key.ssm.key_id
}

# The access-policy token. Write-only (value_wo): Terraform sends it to SSM but keeps
# it out of the plan and the state; bump grafana_cloud_api_key_version to rotate.
resource "aws_ssm_parameter" "grafana_cloud_api_key" {
  name             = "/ai-teams/${var.environment}/monitoring/grafana-cloud-api-key"
  description      = "Grafana Cloud access-policy token (metrics:write, logs:write, traces:write) of the ai-teams collector"
  type             = "SecureString"
  key_id           = aws_kms_key.ssm.arn
  value_wo         = var.grafana_cloud_api_key
  value_wo_version = var.grafana_cloud_api_key_version
}

# Tenant id and URLs from the variables (the design guide's version hard-coded two
# URLs and lacked the OTLP gateway).
resource "aws_ssm_parameter" "grafana_cloud_config" {
  name           = "/ai-teams/${var.environment}/monitoring/grafana-cloud-config"
  description    = "Grafana Cloud endpoints of the ai-teams collector (JSON, no secrets)"
  type           = "String"
  insecure_value = jsonencode(local.grafana_cloud_settings)
}

# The collector's configuration: local profile and Grafana Cloud overlay, as in the
# repository. Intelligent-Tiering picks Standard (4 KB) or Advanced (8 KB) by size.
resource "aws_ssm_parameter" "otel_collector_config" {
  name           = "/ai-teams/${var.environment}/monitoring/otel-collector-config"
  description    = "OpenTelemetry Collector local profile (monitoring/otel-collector-config.yml, comments stripped)"
  type           = "String"
  tier           = "Intelligent-Tiering"
  insecure_value = local.otel_config_local

  lifecycle {
    precondition {
      condition     = local.otel_config_local_bytes <= 8192
      error_message = "monitoring/otel-collector-config.yml without comments is over 8 KB, the SSM limit."
    }
  }
}

resource "aws_ssm_parameter" "otel_collector_cloud" {
  name           = "/ai-teams/${var.environment}/monitoring/otel-collector-cloud"
  description    = "OpenTelemetry Collector Grafana Cloud overlay (monitoring/otel-collector-cloud.yml, comments stripped)"
  type           = "String"
  tier           = "Intelligent-Tiering"
  insecure_value = local.otel_config_cloud

  lifecycle {
    precondition {
      condition     = local.otel_config_cloud_bytes <= 8192
      error_message = "monitoring/otel-collector-cloud.yml without comments is over 8 KB, the SSM limit."
    }
  }
}
