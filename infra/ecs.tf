# ECS (Fargate): the three services, each with an OpenTelemetry Collector sidecar.
#
# Task of a service (awsvpc: the containers share one network namespace):
#   otel-init       busybox (static), runs once as root: copies /bin/busybox into the
#                   task volume and creates the collector's queue directory owned by
#                   the collector's user (10001). essential = false.
#   otel-collector  otel/opentelemetry-collector-contrib, pinned; starts after
#                   otel-init succeeded; config = the two SSM parameters of
#                   monitoring.tf; binds 0.0.0.0 (OTEL_COLLECTOR_HOST); health check:
#                   /otel/busybox wget http://127.0.0.1:13133/ (the image has no shell
#                   and no HTTP client of its own).
#   <service>       starts once the collector is HEALTHY; OTLP to localhost:4317;
#                   JSON stdout -> awslogs -> CloudWatch log group /ecs/ai-teams-<env>/<service>.
# Why a sidecar and not one collector service per cluster: docs/deploy.md.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# The load balancer reaches the gateway from its nodes' addresses in this VPC.
data "aws_vpc" "services" {
  id = var.vpc_id
}

locals {
  name_prefix = "ai-teams-${var.environment}"

  # Fixed per-service settings (ports of the conventions). Service Connect gives the
  # gateway the DNS names workflow-agent / workflow-engine.
  service_defs = {
    "api-gateway" = {
      port = 8080
      environment = {
        WORKFLOW_AGENT_URL  = "http://workflow-agent:8081"
        WORKFLOW_ENGINE_URL = "http://workflow-engine:8082"
        # X-Forwarded-For is believed from the load balancer only; the client
        # address is the right-most entry outside the VPC. The associations
        # list the primary CIDR block and any secondary ones.
        TRUSTED_PROXIES = join(",", data.aws_vpc.services.cidr_block_associations[*].cidr_block)
      }
    }
    "workflow-agent" = {
      port        = 8081
      environment = {}
    }
    "workflow-engine" = {
      port        = 8082
      environment = {}
    }
  }

  # <registry>/<service>:<tag>[@sha256:<digest>]
  service_images = {
    for name in keys(local.service_defs) :
    name => "${var.image_registry}/${name}:${var.image_tag}${lookup(var.image_digests, name, "") != "" ? "@${lookup(var.image_digests, name, "")}" : ""}"
  }

  # The sidecar collector, seen from the service container.
  otlp_endpoint = "http://localhost:4317"

  # SSM parameters every collector reads (monitoring.tf).
  collector_parameter_arns = [
    aws_ssm_parameter.grafana_cloud_api_key.arn,
    aws_ssm_parameter.otel_collector_config.arn,
    aws_ssm_parameter.otel_collector_cloud.arn,
  ]

  # Service secrets: SSM parameter names (service_secrets) -> ARNs.
  ssm_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${var.aws_region}:${data.aws_caller_identity.current.account_id}:parameter"
  service_secret_arns = {
    for name in keys(local.service_defs) : name => {
      for env_name, parameter in lookup(var.service_secrets, name, {}) : env_name => "${local.ssm_arn_prefix}${parameter}"
    }
  }

  otel_volume = "otel"

  collector_container = {
    for name in keys(local.service_defs) : name => {
      name                   = "otel-collector"
      image                  = var.otel_collector_image
      essential              = true
      cpu                    = var.otel_collector_cpu
      memory                 = var.otel_collector_memory
      readonlyRootFilesystem = true
      command                = ["--config=env:OTEL_CONFIG_LOCAL", "--config=env:OTEL_CONFIG_CLOUD"]
      environment = [
        { name = "ENVIRONMENT", value = var.environment },
        { name = "PROJECT", value = var.project },
        { name = "OTEL_COLLECTOR_HOST", value = "0.0.0.0" },
        { name = "OTEL_STORAGE_DIR", value = "/otel/storage" },
        { name = "GRAFANA_CLOUD_TENANT_ID", value = local.grafana_cloud_settings.tenant_id },
        { name = "GRAFANA_CLOUD_PROMETHEUS_USER", value = local.grafana_cloud_settings.prometheus_user },
        { name = "GRAFANA_CLOUD_PROMETHEUS_URL", value = local.grafana_cloud_settings.prometheus_url },
        { name = "GRAFANA_CLOUD_OTLP_URL", value = local.grafana_cloud_settings.otlp_url },
      ]
      secrets = [
        { name = "GRAFANA_CLOUD_API_KEY", valueFrom = aws_ssm_parameter.grafana_cloud_api_key.arn },
        { name = "OTEL_CONFIG_LOCAL", valueFrom = aws_ssm_parameter.otel_collector_config.arn },
        { name = "OTEL_CONFIG_CLOUD", valueFrom = aws_ssm_parameter.otel_collector_cloud.arn },
      ]
      mountPoints = [{ sourceVolume = local.otel_volume, containerPath = "/otel", readOnly = false }]
      dependsOn   = [{ containerName = "otel-init", condition = "SUCCESS" }]
      healthCheck = {
        command     = ["CMD", "/otel/busybox", "wget", "-q", "-T", "3", "-O", "/dev/null", "http://127.0.0.1:13133/"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[name].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "otel-collector"
          mode                  = "non-blocking"
          max-buffer-size       = "4m"
        }
      }
    }
  }

  otel_init_container = {
    for name in keys(local.service_defs) : name => {
      name        = "otel-init"
      image       = var.otel_init_image
      essential   = false
      user        = "0"
      entryPoint  = ["/bin/sh", "-c"]
      command     = ["cp /bin/busybox /otel/busybox && chmod 0555 /otel/busybox && mkdir -p /otel/storage && chown 10001:10001 /otel/storage"]
      mountPoints = [{ sourceVolume = local.otel_volume, containerPath = "/otel", readOnly = false }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[name].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = "otel-init"
        }
      }
    }
  }

  service_container = {
    for name, def in local.service_defs : name => {
      name      = name
      image     = local.service_images[name]
      essential = true
      portMappings = [{
        name          = "http"
        containerPort = def.port
        protocol      = "tcp"
        appProtocol   = "http"
      }]
      environment = [
        for env_name, value in merge(
          var.services[name].environment,
          def.environment,
          var.services[name].log_level != "" ? { LOG_LEVEL = var.services[name].log_level } : {},
          {
            ENVIRONMENT                 = var.environment
            PROJECT                     = var.project
            OTEL_SERVICE_NAME           = name
            OTEL_EXPORTER_OTLP_ENDPOINT = local.otlp_endpoint
            ADDR                        = ":${def.port}"
          },
        ) : { name = env_name, value = value }
      ]
      secrets   = [for env_name, arn in local.service_secret_arns[name] : { name = env_name, valueFrom = arn }]
      dependsOn = [{ containerName = "otel-collector", condition = "HEALTHY" }]
      # stdout is one JSON object per line (CloudWatch shape, see README): awslogs
      # makes each line one event of the service's log group.
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[name].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = name
          mode                  = "non-blocking"
          max-buffer-size       = "25m"
        }
      }
    }
  }
}

# --- Logs ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.service_defs

  name              = "/ecs/${local.name_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
}

# --- IAM: one execution role per service -------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each = local.service_defs

  name               = "${local.name_prefix}-${each.key}-execution"
  description        = "ECS task execution role of ${each.key} (${var.environment}): image pull, awslogs, its SSM parameters"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# Image pull (ECR) and awslogs: the AWS managed policy for task execution. It grants
# no SSM and no KMS access.
resource "aws_iam_role_policy_attachment" "execution_managed" {
  for_each = local.service_defs

  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# Least privilege for secrets: exactly the collector's three parameters plus the
# service's own (service_secrets), and Decrypt with exactly this environment's key,
# only when SSM asks.
data "aws_iam_policy_document" "execution_secrets" {
  for_each = local.service_defs

  statement {
    sid       = "ReadTaskParameters"
    actions   = ["ssm:GetParameters"]
    resources = concat(local.collector_parameter_arns, values(local.service_secret_arns[each.key]))
  }

  statement {
    sid       = "DecryptTaskParameters"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.ssm.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = local.service_defs

  name   = "read-task-parameters"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution_secrets[each.key].json
}

# --- Cluster, network ------------------------------------------------------------------

resource "aws_service_discovery_http_namespace" "this" {
  name        = local.name_prefix
  description = "Service Connect namespace of ai-teams ${var.environment}"
}

resource "aws_ecs_cluster" "this" {
  name = local.name_prefix

  service_connect_defaults {
    namespace = aws_service_discovery_http_namespace.this.arn
  }
}

resource "aws_security_group" "services" {
  name        = "${local.name_prefix}-services"
  description = "ai-teams ${var.environment} services: each other on 8080-8082, any egress (ECR, SSM, Grafana Cloud)"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "services_self" {
  security_group_id            = aws_security_group.services.id
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8082
  description                  = "service to service (Service Connect)"
}

resource "aws_vpc_security_group_ingress_rule" "gateway_from_load_balancer" {
  count = var.load_balancer_security_group_id != "" ? 1 : 0

  security_group_id            = aws_security_group.services.id
  referenced_security_group_id = var.load_balancer_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  description                  = "load balancer to api-gateway"
}

resource "aws_vpc_security_group_egress_rule" "services_all" {
  security_group_id = aws_security_group.services.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  description       = "ECR, SSM, KMS, CloudWatch Logs, Grafana Cloud (HTTPS)"
}

# --- Task definitions and services ------------------------------------------------------

resource "aws_ecs_task_definition" "service" {
  for_each = local.service_defs

  family                   = "${local.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.services[each.key].cpu
  memory                   = var.services[each.key].memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # Fargate task storage shared by otel-init and otel-collector.
  volume {
    name = local.otel_volume
  }

  container_definitions = jsonencode([
    local.otel_init_container[each.key],
    local.collector_container[each.key],
    local.service_container[each.key],
  ])

  lifecycle {
    precondition {
      condition     = var.services[each.key].memory >= var.otel_collector_memory + 256
      error_message = "The task memory of ${each.key} must leave at least 256 MiB for the service beside the collector."
    }
  }

  # The execution role must be able to read the parameters before a task starts.
  depends_on = [aws_iam_role_policy.execution_secrets, aws_iam_role_policy_attachment.execution_managed]
}

resource "aws_ecs_service" "service" {
  for_each = local.service_defs

  name                   = each.key
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = var.services[each.key].desired_count
  launch_type            = "FARGATE"
  platform_version       = "1.4.0"
  enable_execute_command = false
  propagate_tags         = "SERVICE"

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = var.assign_public_ip
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # workflow-agent and workflow-engine are published in the namespace under their
  # names; api-gateway is a client only.
  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.this.arn

    dynamic "service" {
      for_each = each.key == "api-gateway" ? [] : [each.key]
      content {
        port_name      = "http"
        discovery_name = each.key
        client_alias {
          port     = local.service_defs[each.key].port
          dns_name = each.key
        }
      }
    }
  }

  dynamic "load_balancer" {
    for_each = each.key == "api-gateway" && var.api_gateway_target_group_arn != "" ? [var.api_gateway_target_group_arn] : []
    content {
      target_group_arn = load_balancer.value
      container_name   = each.key
      container_port   = local.service_defs[each.key].port
    }
  }
}
