# What the operator needs after apply (docs/deploy.md). No secret values.

output "cluster_name" {
  description = "ECS cluster of the services (aws ecs update-service --cluster ...)."
  value       = aws_ecs_cluster.this.name
}

output "service_names" {
  description = "ECS services, one per application service."
  value       = [for s in aws_ecs_service.service : s.name]
}

output "log_groups" {
  description = "CloudWatch log group of each service (its JSON stdout, plus the collector's own log streams)."
  value       = { for name, group in aws_cloudwatch_log_group.service : name => group.name }
}

output "ssm_parameter_names" {
  description = "The monitoring parameters in SSM Parameter Store."
  value = {
    grafana_cloud_api_key = aws_ssm_parameter.grafana_cloud_api_key.name
    grafana_cloud_config  = aws_ssm_parameter.grafana_cloud_config.name
    otel_collector_config = aws_ssm_parameter.otel_collector_config.name
    otel_collector_cloud  = aws_ssm_parameter.otel_collector_cloud.name
  }
}

output "kms_key_alias" {
  description = "KMS key for SecureString parameters of this environment (use it for service_secrets)."
  value       = aws_kms_alias.ssm.name
}

output "grafana_folder_url" {
  description = "Grafana folder with the dashboards and alert rules (empty unless manage_grafana)."
  value       = var.manage_grafana ? grafana_folder.ai_teams[0].url : ""
}
