{{/*
Release-level rules: values a cluster would refuse (or silently misread), each found here first with a
message that names the dotted key and the fix. Each define returns a YAML list of messages; llm-stack.models
collects them with the per-model rules into one "N problem(s)" failure. Context of each: the chart's root.
*/}}

{{/* A host name as Ingress and HTTPRoute take it (RFC 1123, optionally "*." first). Context: dict "key" "host" */}}
{{- define "llm-stack.validate.hostName" -}}
{{- $problems := list -}}
{{- $host := toString .host -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://" $host -}}
{{- $bare := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:]*).*$" $host "${1}" -}}
{{- $problems = append $problems (printf "%s: %q is a URL: give the host name only, e.g. %s: %s" .key $host .key $bare) -}}
{{- else if and $host (not (regexMatch "^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $host)) -}}
{{- $problems = append $problems (printf "%s: %q is not a host name: use lowercase letters, digits, '-' and '.', no port or path (e.g. llm.example.com)" .key $host) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{- define "llm-stack.validate.hosts" -}}
{{- $problems := list -}}
{{- $problems = concat $problems (include "llm-stack.validate.hostName" (dict "key" "ingress.host" "host" .Values.ingress.host) | fromYamlArray) -}}
{{- range $i, $h := .Values.httpRoute.hostnames -}}
{{- $problems = concat $problems (include "llm-stack.validate.hostName" (dict "key" (printf "httpRoute.hostnames[%d]" $i) "host" $h) | fromYamlArray) -}}
{{- end -}}
{{- range $i, $m := .Values.models -}}
{{- if $m.host -}}
{{- $problems = concat $problems (include "llm-stack.validate.hostName" (dict "key" (printf "models[%d].host" $i) "host" $m.host) | fromYamlArray) -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* TLS is for a name: a certificate without a host cannot match, and every block needs its Secret. */}}
{{- define "llm-stack.validate.tls" -}}
{{- $problems := list -}}
{{- $ingress := .Values.ingress -}}
{{- if and $ingress.enabled $ingress.tls -}}
{{- $named := $ingress.host -}}
{{- if not .Values.gateway.enabled -}}
{{- range .Values.models }}{{ if .host }}{{ $named = true }}{{ end }}{{ end -}}
{{- end -}}
{{- if not $named -}}
{{- $problems = append $problems "ingress.tls: TLS needs a host name (a certificate is issued for a name, and an Ingress rule without a host matches no TLS block): set ingress.host, or remove ingress.tls" -}}
{{- end -}}
{{- range $i, $block := $ingress.tls -}}
{{- if not $block.secretName -}}
{{- $problems = append $problems (printf "ingress.tls[%d].secretName: required: name the kubernetes.io/tls Secret that holds the certificate" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* An HTTPRoute attaches to a Gateway: without parentRefs it routes nothing. */}}
{{- define "llm-stack.validate.httpRoute" -}}
{{- $problems := list -}}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) -}}
{{- $problems = append $problems "httpRoute.parentRefs: empty: name the Gateway the route attaches to, e.g. httpRoute.parentRefs: [{name: my-gateway, namespace: gateway-system}]" -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* Replica counts the API takes: int32, and no 0 under an HPA (autoscaling/v2 refuses minReplicas 0 unless
the alpha HPAScaleToZero gate is on). Context: dict "key" "models[i]" "model" <merged model> */}}
{{- define "llm-stack.validate.replicas" -}}
{{- $problems := list -}}
{{- $as := .model.autoscaling -}}
{{- range $field := list "minReplicas" "maxReplicas" -}}
{{- if gt (int64 (get $as $field)) 2147483647 -}}
{{- $problems = append $problems (printf "%s.autoscaling.%s (%v) is beyond what the Kubernetes API stores (2147483647, an int32): use a real replica count" $.key $field (int64 (get $as $field))) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .model.engine "vllm") (eq .model.provider "hpa") (eq (int $as.minReplicas) 0) (gt (int $as.maxReplicas) 0) -}}
{{- $problems = append $problems (printf "%s.autoscaling.minReplicas: 0 is refused under an HPA (autoscaling/v2 takes it only with the alpha HPAScaleToZero feature gate): set minReplicas: 1, or autoscaling.provider: keda, which scales to zero" .key) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* A public name several models share is split by their routeWeight: at least one must be above 0, or
the name would have fallbacks only. Context: dict "root" $ "models" <the merged models> */}}
{{- define "llm-stack.validate.routes" -}}
{{- $problems := list -}}
{{- $weights := dict -}}
{{- range $m := .models -}}
{{- range $public := prepend ($m.aliases | default list) $m.name | uniq -}}
{{- $_ := set $weights $public (append (get $weights $public | default list) (int $m.routeWeight)) -}}
{{- end -}}
{{- end -}}
{{- range $public, $list := $weights -}}
{{- $total := 0 -}}
{{- range $list }}{{ $total = add $total . }}{{ end -}}
{{- if and $.root.Values.gateway.enabled (gt (len $list) 1) (eq (int $total) 0) -}}
{{- $problems = append $problems (printf "models[].routeWeight: every model serving %q has routeWeight 0, so the gateway would only ever fall back to them: give one of them a weight above 0" $public) -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* An Ingress or HTTPRoute straight to the models (no gateway) exposes them to anyone who reaches it: only
with a key the engine enforces (vLLM's VLLM_API_KEY; Ray Serve LLM has none), or when asked for outright. */}}
{{- define "llm-stack.validate.exposure" -}}
{{- $problems := list -}}
{{- $exposed := and (or .Values.ingress.enabled .Values.httpRoute.enabled) (not .Values.gateway.enabled) -}}
{{- if and $exposed (not .Values.ingress.allowUnauthenticated) -}}
{{- $key := printf "%s.enabled" (ternary "ingress" "httpRoute" (eq .Values.ingress.enabled true)) -}}
{{- if not .Values.credentials.engineApiKey.existingSecret -}}
{{- $problems = append $problems (printf "%s: it would expose the models' API without any key: enable the gateway (gateway.enabled: true with gateway.keys.existingSecret: API keys, limits, routing), or set credentials.engineApiKey.existingSecret (a key vLLM enforces; engine vllm only), or accept it with ingress.allowUnauthenticated: true" $key) -}}
{{- else -}}
{{- range $i, $m := .Values.models -}}
{{- if eq (toString ($m.engine | default $.Values.modelDefaults.engine)) "ray" -}}
{{- $problems = append $problems (printf "models[%d].engine: ray cannot enforce credentials.engineApiKey (Ray Serve LLM checks no key): put the gateway in front (gateway.enabled: true), or use engine: vllm" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* Every release-level problem. */}}
{{- define "llm-stack.validate.release" -}}
{{- $problems := include "llm-common.image.problems" (include "llm-stack.imageContext" . | fromYaml) | fromYamlArray -}}
{{- range $rule := list "hosts" "tls" "httpRoute" "exposure" -}}
{{- $problems = concat $problems (include (printf "llm-stack.validate.%s" $rule) $ | fromYamlArray) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}
