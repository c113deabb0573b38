output "api_base_url" {
  description = "OpenAI-compatible base URL of the release."
  value       = "https://${var.host}/v1"
}
