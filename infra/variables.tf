# Inputs of the ai-teams production stack (one state per environment).
#
# Secrets: the only secret Terraform ever sees is grafana_cloud_api_key. It has no
# default, is sensitive AND ephemeral, and reaches SSM through a write-only argument:
# pass it as TF_VAR_grafana_cloud_api_key, never in a .tfvars file. Service secrets
# (API_KEYS, DATABASE_URL, AI_API_KEY) are SSM parameters the operator writes; only
# their NAMES are inputs here (service_secrets). The Grafana service-account token for
# the grafana provider comes from the GRAFANA_AUTH environment variable.
# terraform.tfvars.example lists every input with placeholder values.

# --- Where -------------------------------------------------------------------------

variable "environment" {
  description = "Deployment environment: ENVIRONMENT of every container, the `environment` label of every series, part of every name (/ai-teams/<environment>/...)."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "The environment must be one of dev, staging, prod (the services refuse to start with anything else)."
  }
}

variable "aws_region" {
  description = "AWS region of the ECS cluster, the SSM parameters and the CloudWatch log groups."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "The aws_region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "The `project` label (PROJECT) of every series and log line."
  type        = string
  default     = "starmates-ai-team"
  nullable    = false
}

# --- Grafana Cloud (collector) ------------------------------------------------------

variable "grafana_cloud_api_key" {
  description = "Grafana Cloud access-policy token with metrics:write, logs:write, traces:write. Stored as the SecureString /ai-teams/<environment>/monitoring/grafana-cloud-api-key. Pass as TF_VAR_grafana_cloud_api_key."
  type        = string
  sensitive   = true
  ephemeral   = true
  nullable    = false

  validation {
    condition     = length(trimspace(var.grafana_cloud_api_key)) > 0
    error_message = "The grafana_cloud_api_key must not be empty."
  }
}

variable "grafana_cloud_api_key_version" {
  description = "Version of the token written to SSM. The token is write-only: Terraform sends it again only when this number changes, so increase it when rotating the token."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.grafana_cloud_api_key_version >= 1 && floor(var.grafana_cloud_api_key_version) == var.grafana_cloud_api_key_version
    error_message = "The grafana_cloud_api_key_version must be a whole number >= 1."
  }
}

variable "grafana_cloud_tenant_id" {
  description = "Grafana Cloud instance id (numeric) of the OTLP gateway: the Basic-auth user of the collector (GRAFANA_CLOUD_TENANT_ID)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+$", var.grafana_cloud_tenant_id))
    error_message = "The grafana_cloud_tenant_id must be the numeric Grafana Cloud instance id."
  }
}

variable "grafana_cloud_prometheus_user" {
  description = "Optional: the Prometheus (Mimir) instance id when the portal shows one different from grafana_cloud_tenant_id (GRAFANA_CLOUD_PROMETHEUS_USER). Empty = grafana_cloud_tenant_id."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.grafana_cloud_prometheus_user == "" || can(regex("^[0-9]+$", var.grafana_cloud_prometheus_user))
    error_message = "The grafana_cloud_prometheus_user must be empty or a numeric instance id."
  }
}

variable "grafana_cloud_prometheus_url" {
  description = "Mimir remote-write URL of the stack (portal -> Prometheus -> Details), ending in /api/prom/push (GRAFANA_CLOUD_PROMETHEUS_URL)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+/api/prom/push$", var.grafana_cloud_prometheus_url))
    error_message = "The grafana_cloud_prometheus_url must be an https URL ending in /api/prom/push."
  }
}

variable "grafana_cloud_loki_url" {
  description = "Loki push URL of the stack (portal -> Loki -> Details), ending in /loki/api/v1/push. Recorded in the grafana-cloud-config parameter; the collector ships logs through the OTLP gateway."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+/loki/api/v1/push$", var.grafana_cloud_loki_url))
    error_message = "The grafana_cloud_loki_url must be an https URL ending in /loki/api/v1/push."
  }
}

variable "grafana_cloud_otlp_url" {
  description = "OTLP gateway base URL of the stack (portal -> OpenTelemetry -> Configure), ending in /otlp; traces and logs go there (GRAFANA_CLOUD_OTLP_URL)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+/otlp$", var.grafana_cloud_otlp_url))
    error_message = "The grafana_cloud_otlp_url must be an https URL ending in /otlp."
  }
}

# --- Images ------------------------------------------------------------------------

variable "image_registry" {
  description = "Registry and repository prefix of the service images; the image of a service is <image_registry>/<service>:<image_tag>, e.g. <account>.dkr.ecr.<region>.amazonaws.com/ai-teams."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)*$", var.image_registry))
    error_message = "The image_registry must be a registry host with an optional path, without a tag and without a trailing slash."
  }
}

variable "image_tag" {
  description = "Release tag of the three service images (one tag per release, never latest)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && lower(var.image_tag) != "latest"
    error_message = "The image_tag must be a non-empty Docker tag other than latest."
  }
}

variable "image_digests" {
  description = "Optional digest per service (sha256:<64 hex>), appended to the tag (<image>:<tag>@sha256:...) so ECS pulls exactly that build."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([
      for name, digest in var.image_digests :
      contains(["api-gateway", "workflow-agent", "workflow-engine"], name) && can(regex("^sha256:[0-9a-f]{64}$", digest))
    ])
    error_message = "The image_digests keys must be service names and the values sha256:<64 lowercase hex>."
  }
}

variable "otel_collector_image" {
  description = "Collector image: the contrib distribution of the release our collector/ module is built from (every component of monitoring/otel-collector-*.yml is in it). Pinned tag, optionally @sha256 digest; a mirror (ECR pull-through cache) may replace the registry."
  type        = string
  default     = "otel/opentelemetry-collector-contrib:0.158.0"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$", var.otel_collector_image)) && !can(regex(":latest(@|$)", var.otel_collector_image))
    error_message = "The otel_collector_image must be <repository>:<tag>[@sha256:<digest>] with a tag other than latest."
  }
}

variable "otel_init_image" {
  description = "Static busybox image of the collector's init container: it copies its busybox binary into the task volume, where the collector's health check (wget on :13133) runs it, and creates the collector's queue directory. Pinned tag, optionally @sha256 digest."
  type        = string
  default     = "public.ecr.aws/docker/library/busybox:1.37.0-musl"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?$", var.otel_init_image)) && !can(regex(":latest(@|$)", var.otel_init_image))
    error_message = "The otel_init_image must be <repository>:<tag>[@sha256:<digest>] with a tag other than latest."
  }
}

# --- Services ----------------------------------------------------------------------

variable "services" {
  description = "Settings of the three services. cpu/memory are the Fargate task size (service + collector sidecar); environment adds variables (e.g. AI_BASE_URL, AI_MODEL for workflow-agent); log_level sets LOG_LEVEL (empty = by environment)."
  type = map(object({
    cpu           = optional(number, 512)
    memory        = optional(number, 1024)
    desired_count = optional(number, 1)
    log_level     = optional(string, "")
    environment   = optional(map(string), {})
  }))
  default = {
    "api-gateway"     = {}
    "workflow-agent"  = {}
    "workflow-engine" = {}
  }
  nullable = false

  validation {
    condition     = length(var.services) == 3 && alltrue([for name in ["api-gateway", "workflow-agent", "workflow-engine"] : contains(keys(var.services), name)])
    error_message = "The services map must have exactly the keys api-gateway, workflow-agent, workflow-engine."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : contains(["", "DEBUG", "INFO", "WARN", "ERROR"], s.log_level)])
    error_message = "A log_level must be empty, DEBUG, INFO, WARN or ERROR."
  }

  validation {
    condition = alltrue([
      for s in values(var.services) : length(setintersection(keys(s.environment), [
        "ENVIRONMENT", "PROJECT", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT", "ADDR", "LOG_LEVEL",
        "WORKFLOW_AGENT_URL", "WORKFLOW_ENGINE_URL", "API_KEYS", "DATABASE_URL", "AI_API_KEY",
      ])) == 0
    ])
    error_message = "The services' environment maps must not set variables that Terraform sets (ENVIRONMENT, PROJECT, OTEL_*, ADDR, LOG_LEVEL, WORKFLOW_*_URL) or secrets (API_KEYS, DATABASE_URL, AI_API_KEY: use service_secrets)."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.desired_count >= 0 && s.cpu >= 512 && s.memory >= 1024])
    error_message = "Each service needs cpu >= 512 and memory >= 1024 (the collector sidecar takes 256 CPU units and 512 MiB), and desired_count >= 0."
  }
}

variable "service_secrets" {
  description = "Secrets of the services as SSM parameter NAMES, per service: { \"api-gateway\" = { API_KEYS = \"/ai-teams/prod/api-gateway/api-keys\", DATABASE_URL = \"/ai-teams/prod/api-gateway/database-url\" }, \"workflow-agent\" = { AI_API_KEY = \"/ai-teams/prod/workflow-agent/ai-api-key\" } }. The operator creates them as SecureString with the KMS key alias/ai-teams-<environment>-ssm before apply; each task's execution role may read exactly its own."
  type        = map(map(string))
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.service_secrets) : contains(["api-gateway", "workflow-agent", "workflow-engine"], name)])
    error_message = "The service_secrets keys must be service names."
  }

  validation {
    condition = alltrue(flatten([
      for secrets in values(var.service_secrets) : [
        for env_name, parameter in secrets :
        can(regex("^[A-Z][A-Z0-9_]*$", env_name)) && can(regex("^/ai-teams/${var.environment}/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", parameter))
      ]
    ]))
    error_message = "Each service secret maps an environment variable name (A-Z, 0-9, _) to an SSM parameter name under /ai-teams/<environment>/ (no wildcards)."
  }
}

variable "log_retention_days" {
  description = "Retention of the services' CloudWatch log groups (their JSON stdout) in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

# --- Network -----------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the services. Their subnets need a route to the internet (NAT) or VPC endpoints for ECR, SSM, KMS, CloudWatch Logs; the collector also needs HTTPS to Grafana Cloud."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "The vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets of the services' tasks (awsvpc networking)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "The subnet_ids must be a non-empty list of subnet ids."
  }
}

variable "assign_public_ip" {
  description = "Give the tasks public IPs (only for subnets without NAT)."
  type        = bool
  default     = false
  nullable    = false
}

variable "api_gateway_target_group_arn" {
  description = "Optional: ALB/NLB target group that receives client traffic for api-gateway (port 8080). Empty = no load balancer attachment."
  type        = string
  default     = ""
  nullable    = false
}

variable "load_balancer_security_group_id" {
  description = "Optional: security group of that load balancer, allowed to reach api-gateway on 8080."
  type        = string
  default     = ""
  nullable    = false
}

# --- Collector sidecar ---------------------------------------------------------------

variable "otel_collector_cpu" {
  description = "CPU units reserved for the collector container in each task."
  type        = number
  default     = 256
  nullable    = false
}

variable "otel_collector_memory" {
  description = "Hard memory limit (MiB) of the collector container; the config's memory_limiter keeps the collector under 400 MiB."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.otel_collector_memory >= 512
    error_message = "The otel_collector_memory must be at least 512 MiB (memory_limiter limit_mib is 400)."
  }
}

# --- Grafana Cloud objects (dashboards, alert rules, OnCall) --------------------------

variable "manage_grafana" {
  description = "Create the Grafana folder, the dashboards of monitoring/dashboards, the alert and recording rules of monitoring/alert-rules.yml and the contact point. Off by default so plan/apply need no Grafana credentials. dev/staging/prod share one Grafana Cloud stack: turn it on in exactly one environment's state (prod)."
  type        = bool
  default     = false
  nullable    = false
}

variable "grafana_url" {
  description = "URL of the Grafana Cloud stack (https://<stack>.grafana.net); used only when manage_grafana is true. The token comes from the GRAFANA_AUTH environment variable."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = !var.manage_grafana || can(regex("^https://[A-Za-z0-9.-]+/?$", var.grafana_url))
    error_message = "With manage_grafana = true, grafana_url must be the https URL of the stack."
  }
}

variable "grafana_folder_title" {
  description = "Folder of the dashboards and alert rules."
  type        = string
  default     = "ai-teams"
  nullable    = false
}

variable "grafana_prometheus_datasource_uid" {
  description = "UID of the stack's Prometheus (Mimir) data source, queried by the alert rules and written by the recording rules. grafanacloud-prom is the UID Grafana Cloud gives it."
  type        = string
  default     = "grafanacloud-prom"
  nullable    = false
}

variable "grafana_rule_default_interval" {
  description = "Evaluation interval of rule groups that set none (Prometheus' global evaluation_interval)."
  type        = string
  default     = "1m"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.grafana_rule_default_interval))
    error_message = "The grafana_rule_default_interval must be a number followed by s, m or h."
  }
}

variable "grafana_excluded_rules" {
  description = "Rules of monitoring/alert-rules.yml (alert or record names) that are NOT created in Grafana Cloud: the ones that only make sense against the local Prometheus (it scrapes the collector; Grafana Cloud does not). CollectorDown would fire forever there (absent(up{job=...}))."
  type        = list(string)
  default     = ["CollectorDown", "FreeTierActiveSeriesNearLimit"]
  nullable    = false
}

variable "grafana_telemetry_absent_environments" {
  description = "Environments that page when no telemetry arrives in Grafana Cloud for 10 minutes (the cloud replacement of CollectorDown)."
  type        = list(string)
  default     = ["prod"]
  nullable    = false

  validation {
    condition     = alltrue([for e in var.grafana_telemetry_absent_environments : contains(["dev", "staging", "prod"], e)])
    error_message = "The grafana_telemetry_absent_environments must be a subset of dev, staging, prod."
  }
}

variable "manage_grafana_oncall" {
  description = "With manage_grafana: create the Grafana OnCall (IRM) integration and a contact point that sends every alert of the folder to it. Off: alerts go to grafana_fallback_contact_point."
  type        = bool
  default     = true
  nullable    = false
}

variable "grafana_oncall_url" {
  description = "Optional OnCall API URL (only outside the default region); empty = the provider's default/auto-detection."
  type        = string
  default     = ""
  nullable    = false
}

variable "grafana_oncall_escalation_chain_id" {
  description = "Optional OnCall escalation chain of the integration's default route (created in the OnCall UI or with grafana_oncall_escalation_chain elsewhere)."
  type        = string
  default     = ""
  nullable    = false
}

variable "grafana_fallback_contact_point" {
  description = "Existing contact point used when manage_grafana_oncall is false."
  type        = string
  default     = "grafana-default-email"
  nullable    = false
}
