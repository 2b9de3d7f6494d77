# Terraform and provider versions, state backend, provider configuration.
#
# Terraform >= 1.11: the Grafana Cloud token is an ephemeral variable written to SSM
# through a write-only argument (value_wo), so it never appears in a plan file or in
# the state. AWS provider 6.x has value_wo on aws_ssm_parameter.
#
# State: S3 backend, configured at init time (docs/deploy.md, step "Terraform init"):
#   terraform init -backend-config=bucket=... -backend-config=key=ai-teams/<env>.tfstate \
#                  -backend-config=region=... -backend-config=use_lockfile=true
# `terraform init -backend=false` (validation only) ignores it.
terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    grafana = {
      source  = "grafana/grafana"
      version = "~> 4.0"
    }
  }

  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      project     = var.project
      environment = var.environment
      managed-by  = "terraform"
      repository  = "starmates-ai/ai-teams"
    }
  }
}

# Grafana Cloud stack API (dashboards, alert rules, contact point, OnCall).
# url stays null unless manage_grafana is true, so `terraform plan` needs no Grafana
# credentials: the provider then builds no Grafana client, and every grafana_*
# resource has count/for_each 0. The service-account token is never a Terraform
# variable: the provider reads it from the GRAFANA_AUTH environment variable.
provider "grafana" {
  url        = var.manage_grafana ? var.grafana_url : null
  oncall_url = var.grafana_oncall_url != "" ? var.grafana_oncall_url : null
}
