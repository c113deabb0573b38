{{/*
NetworkPolicy peers from the charts' values. Each entry is `{namespace, podLabels}`: pods selected by labels
*and* by their namespace's name (kubernetes.io/metadata.name, which the API server sets on every namespace),
never pod labels alone from any namespace, which anyone who can create a pod could wear. `{peer: <a raw
NetworkPolicyPeer>}` takes anything else (an ipBlock, expressions). Context: the list. Renders a YAML list.
*/}}
{{- define "llm-common.networkPolicyPeers" -}}
{{- $peers := list -}}
{{- range . -}}
{{- if .peer -}}
{{- $peers = append $peers .peer -}}
{{- else -}}
{{- $peers = append $peers (dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" .namespace)) "podSelector" (dict "matchLabels" (.podLabels | default dict))) -}}
{{- end -}}
{{- end -}}
{{- toYaml $peers -}}
{{- end -}}
