{{/*
Names, labels, the image, and the small shared pieces (gateway Service, OpenAI paths, queue depth, HPA behavior).
The model list is in _models.tpl, its rules in _validate.tpl, the pods' pieces in _pod.tpl.
*/}}

{{- define "llm-stack.name" -}}{{ include "llm-common.name" . }}{{- end -}}

{{- define "llm-stack.fullname" -}}{{ include "llm-common.fullname" . }}{{- end -}}

{{- define "llm-stack.chart" -}}{{ include "llm-common.chart" . }}{{- end -}}

{{- define "llm-stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-stack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "llm-stack.labels" -}}
helm.sh/chart: {{ include "llm-stack.chart" . }}
{{ include "llm-stack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-stack
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.annotations block content (commonAnnotations), empty when none */}}
{{- define "llm-stack.annotations" -}}
{{- with .Values.commonAnnotations }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Policy-scan (checkov) exceptions of the objects that run the serving image: the shared ones, and this. */}}
{{- define "llm-stack.policySkips" -}}
{{ include "llm-common.policySkips" . }}
checkov.io/skip4: CKV_K8S_40=UID 1000 is the user of the Ray base image that owns its Python environment
{{- end -}}

{{/* Selector labels of one model's pods. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.modelSelectorLabels" -}}
{{ include "llm-stack.selectorLabels" .root }}
app.kubernetes.io/component: model
llm-stack.io/model: {{ .model.id }}
{{- end -}}

{{/* Labels of one model's objects. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.modelLabels" -}}
{{ include "llm-stack.labels" .root }}
app.kubernetes.io/component: model
llm-stack.io/model: {{ .model.id }}
llm-stack.io/engine: {{ .model.engine }}
{{- end -}}

{{- define "llm-stack.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llm-stack.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The serving image (its values are checked with the other problems in llm-stack.models). */}}
{{- define "llm-stack.image" -}}
{{- include "llm-common.image" (include "llm-stack.imageContext" . | fromYaml) -}}
{{- end -}}

{{- define "llm-stack.imageContext" -}}
{{- toYaml (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion "key" "image") -}}
{{- end -}}

{{/*
Deep merge of two maps: maps merge key by key, anything else in "over" replaces "base" (also false,
0 and null, which sprig's mergeOverwrite would silently drop). Context: dict "base" B "over" O.
*/}}
{{- define "llm-stack.deepMerge" -}}
{{- $out := deepCopy .base -}}
{{- range $key, $value := .over -}}
{{- $current := get $out $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- $_ := set $out $key (include "llm-stack.deepMerge" (dict "base" $current "over" $value) | fromYaml) -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The model contract (files/model.yaml): the one definition of a model entry, which `make generate` also
turns into the schema's model section, values.yaml's modelDefaults and the serving package's key sets. */}}
{{- define "llm-stack.contract" -}}
{{- .Files.Get "files/model.yaml" -}}
{{- end -}}

{{/* Accepted model source URIs, composed from the contract's grammar (llmstack.model_contract.source_pattern
writes the same string for the serving package). */}}
{{- define "llm-stack.sourcePattern" -}}
{{- $sources := (include "llm-stack.contract" . | fromYaml).sources -}}
{{- $alternatives := list -}}
{{- range $sources.schemes -}}
{{- $alternatives = append $alternatives (printf "%s://%s%s" .scheme .location (ternary (printf "(@%s)?" $sources.revision) "" (default false .revision))) -}}
{{- end -}}
^({{ join "|" $alternatives }})$
{{- end -}}

{{/* Name and port of the gateway's Service: the subchart under its alias "gateway" (llm-common computes
them, since the subchart's own helpers are not loaded while it is disabled). */}}
{{- define "llm-stack.gatewayServiceName" -}}
{{- include "llm-common.gateway.serviceName" (dict "name" "gateway" "values" (.Values.gateway | default dict) "release" .Release.Name) -}}
{{- end -}}

{{- define "llm-stack.gatewayServicePort" -}}
{{- include "llm-common.gateway.port" .Values.gateway -}}
{{- end -}}

{{/* The OpenAI routes a model is exposed on when no gateway stands in front: never the engine's own
(vLLM's /inference/..., /abort_requests, /scale_elastic_ep, /metrics...; Ray's /-/routes). */}}
{{- define "llm-stack.openaiPaths" -}}
- /v1/chat/completions
- /v1/completions
- /v1/embeddings
- /v1/models
{{- end -}}

{{/* Backends of the API as a YAML list of {host, service, port, paths: [{path, type}]}: the gateway (it serves
only the OpenAI routes itself), or each model on its own host and only on the OpenAI routes. */}}
{{- define "llm-stack.apiBackends" -}}
{{- $backends := list -}}
{{- if .Values.gateway.enabled -}}
{{- $paths := list (dict "path" .Values.ingress.path "type" "PathPrefix") -}}
{{- $backends = append $backends (dict "host" .Values.ingress.host "service" (include "llm-stack.gatewayServiceName" .) "port" (include "llm-stack.gatewayServicePort" . | int) "paths" $paths) -}}
{{- else -}}
{{- $paths := list -}}
{{- range include "llm-stack.openaiPaths" . | fromYamlArray }}{{ $paths = append $paths (dict "path" . "type" "Exact") }}{{ end -}}
{{- range $m := (include "llm-stack.models" . | fromYaml).models -}}
{{- $backends = append $backends (dict "host" $m.routeHost "service" $m.fullname "port" (int $.Values.service.port) "paths" $paths) -}}
{{- end -}}
{{- end -}}
{{- toYaml $backends -}}
{{- end -}}

{{/* The queue-depth definition shared with `llmstack` (files/queue-depth.yaml). */}}
{{- define "llm-stack.queueDepth" -}}
{{- .Files.Get "files/queue-depth.yaml" -}}
{{- end -}}

{{/* HPA scaling behavior of an engine: vllm model (the HPA's, or KEDA's HPA). Context: the model.
Scale up at most one pod or 100% per cold start (a new replica takes that long to help: adding more
while it loads overshoots); scale down after a window no shorter than the cold start (validated). */}}
{{- define "llm-stack.hpaBehavior" -}}
{{- $as := .autoscaling -}}
{{- $period := min 1800 (int .coldStartSeconds) -}}
scaleUp:
  stabilizationWindowSeconds: {{ $as.scaleUpStabilizationSeconds }}
  selectPolicy: Max
  policies:
    - type: Pods
      value: 1
      periodSeconds: {{ $period }}
    - type: Percent
      value: 100
      periodSeconds: {{ $period }}
scaleDown:
  stabilizationWindowSeconds: {{ $as.scaleDownStabilizationSeconds }}
  policies:
    - type: Pods
      value: 1
      periodSeconds: 120
{{- end -}}

{{/* A selector that matches a vLLM metric in both families: `vllm:<name>` (engine vllm) and
`ray_vllm_<name>` (vLLM inside Ray Serve). Context: dict "name" "<metric>" "matchers" "<label matchers>" */}}
{{- define "llm-stack.vllmSeries" -}}
{__name__=~"vllm:{{ .name }}|ray_vllm_{{ .name }}",{{ .matchers }}}
{{- end -}}
