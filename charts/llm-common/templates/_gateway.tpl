{{/*
The gateway as both charts see it: its Service name and port, and its config file. llm-stack writes the
gateway's config (a route per model) while the gateway subchart may not be loaded (it is off by default),
so these live here rather than in the gateway chart.
*/}}

{{/* Context: dict "name" <the chart's name or alias> "values" <the gateway's values> "release" <release name> */}}
{{- define "llm-common.gateway.serviceName" -}}
{{- include "llm-common.fullnameFor" . -}}
{{- end -}}

{{/* Context: the gateway's values */}}
{{- define "llm-common.gateway.port" -}}
{{- dig "service" "port" 8080 (. | default dict) | int -}}
{{- end -}}

{{/* Where the gateway's Deployment mounts the keys Secret; the config names this file. */}}
{{- define "llm-common.gateway.keysFile" -}}
/etc/llm-gateway/keys/keys.yaml
{{- end -}}

{{/* gateway.yaml from the gateway's `config` values. Context: the config map */}}
{{- define "llm-common.gateway.config" -}}
{{- $cfg := deepCopy (. | default dict) -}}
{{- $_ := set $cfg "keysFile" (include "llm-common.gateway.keysFile" .) -}}
{{- if not $cfg.redisUrl }}{{ $_ := unset $cfg "redisUrl" }}{{ end -}}
{{- toYaml $cfg -}}
{{- end -}}
