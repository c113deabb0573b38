variable "kubeconfig" {
  type        = string
  description = "Path of the kubeconfig Terraform's helm provider uses."
}

variable "release_name" {
  type    = string
  default = "llm"
}

variable "namespace" {
  type    = string
  default = "llm"
}

variable "chart" {
  type        = string
  description = "The llm-stack chart: a packaged .tgz (make package) or an OCI reference."
  default     = "../../dist/llm-stack-0.1.0.tgz"
}

variable "chart_version" {
  type    = string
  default = "0.1.0"
}

variable "profile" {
  type        = string
  description = "A ready profile from values/ (or your own values file)."
  default     = "../../values/l4-8b.yaml"
}

variable "host" {
  type        = string
  description = "Host name of the OpenAI-compatible API."
}

variable "hf_token_secret" {
  type        = string
  description = "Existing Secret with a Hugging Face token (\"\" = anonymous downloads)."
  default     = ""
}

variable "gateway_keys_secret" {
  type        = string
  description = "Existing Secret with the gateway's keys file (hashed keys)."
}
