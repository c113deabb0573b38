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

{{/*
Per-model rules, called by llm-stack.models in this order for each entry. Context of each: dict "root" $
"key" "models[i]" "model" <the merged model, derived keys set so far> "prefix" <release prefix> "seen"/"hosts"
<what earlier models took>; modelGpus also "given" (gpus as written) and "derived" (TP×PP).
*/}}

{{/* At least one model. Context: the chart's root */}}
{{- define "llm-stack.validate.modelsPresent" -}}
{{- $problems := list -}}
{{- if not .Values.models -}}
{{- $problems = append $problems "models: the list is empty: add at least one model, e.g. models: [{name: my-model, source: hf://org/model}]" -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* Names: unique as object names ('.' reads as '-'), and short enough for the objects made from them */}}
{{- define "llm-stack.validate.modelName" -}}
{{- $problems := list -}}
{{- $m := .model -}}
{{- if hasKey .seen $m.id -}}
{{- $problems = append $problems (printf "%s.name: %q clashes with %s (names must differ even with '.' read as '-'): rename one of them" .key (toString $m.name) (get .seen $m.id)) -}}
{{- end -}}
{{- $_ := set .seen $m.id .key -}}
{{- /* a RayService's name: KubeRay appends suffixes and takes at most 40; else the Service name, a DNS label */ -}}
{{- $limit := ternary 40 63 (eq (toString $m.engine) "ray") -}}
{{- if gt (len $m.fullname) $limit -}}
{{- $problems = append $problems (printf "%s.name: the object name %q (release prefix %q + model) is %d characters; %s: use a shorter release name or set fullnameOverride (the model name stays its public id)" .key $m.fullname .prefix (len $m.fullname) (ternary "KubeRay takes at most 40 for a RayService (it appends suffixes)" "a Service name is at most 63 (a DNS label)" (eq $limit 40))) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* The model's and its LoRA adapters' sources: a supported URI, no '.' or '..' segment */}}
{{- define "llm-stack.validate.modelSources" -}}
{{- $problems := list -}}
{{- $m := .model -}}
{{- $key := .key -}}
{{- $pattern := include "llm-stack.sourcePattern" .root -}}
{{- $source := toString $m.source -}}
{{- if not (regexMatch $pattern $source) -}}
{{- $problems = append $problems (printf "%s.source: %q is not a supported model source: use hf://org/model[@revision], s3://bucket/path, gs://bucket/path, pvc://claim/path or file:///absolute/path" $key $source) -}}
{{- else if regexMatch "^[a-z0-9]+://(.*/)?\\.\\.?(/|@|$)" $source -}}
{{- $problems = append $problems (printf "%s.source: %q has a '.' or '..' path segment: name the path without them (the cache folder is made from it and must stay inside the cache)" $key $source) -}}
{{- end -}}
{{- range $j, $adapter := $m.lora.adapters -}}
{{- if not (regexMatch $pattern (toString $adapter.source)) -}}
{{- $problems = append $problems (printf "%s.lora.adapters[%d].source: %q is not a supported source: use hf://, s3://, gs://, pvc:// or file:///" $key $j (toString $adapter.source)) -}}
{{- else if regexMatch "^[a-z0-9]+://(.*/)?\\.\\.?(/|@|$)" (toString $adapter.source) -}}
{{- $problems = append $problems (printf "%s.lora.adapters[%d].source: %q has a '.' or '..' path segment: name the path without them" $key $j (toString $adapter.source)) -}}
{{- end -}}
{{- end -}}
{{- if and $m.lora.adapters (not $m.lora.enabled) -}}
{{- $problems = append $problems (printf "%s.lora.adapters: adapters are listed but lora.enabled is false: set %s.lora.enabled: true" $key $key) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* GPUs: gpus never contradicts TP×PP, a replica splits evenly over its nodes (and only a RayService spans
nodes), and GPUs are never asked for in resources */}}
{{- define "llm-stack.validate.modelGpus" -}}
{{- $problems := list -}}
{{- $m := .model -}}
{{- $key := .key -}}
{{- $tp := int $m.tensorParallelSize -}}
{{- $pp := int $m.pipelineParallelSize -}}
{{- if .share -}}
{{- $perGpu := int $m.replicasPerPod -}}
{{- $exact := mulf $perGpu (float64 .given) -}}
{{- if or (lt $perGpu 2) (lt $exact 0.999) (gt $exact 1.001) -}}
{{- $problems = append $problems (printf "%s.gpus: %v is not a share one GPU divides into: use 1/N, e.g. 0.5, 0.25 or 0.2 (N replicas per GPU)" $key .given) -}}
{{- else if ne $m.engine "ray" -}}
{{- $problems = append $problems (printf "%s.gpus: a share of a GPU (%v) needs engine: ray, where Ray Serve places several replicas on one GPU; a Deployment's pod takes whole GPUs: set engine: ray, or gpus: 1" $key .given) -}}
{{- else if ne (int .derived) 1 -}}
{{- $problems = append $problems (printf "%s.gpus: a share of a GPU (%v) holds one whole replica, but tensorParallelSize (%d) × pipelineParallelSize (%d) = %d GPUs: set both to 1, or gpus: %d" $key .given $tp $pp (int .derived) (int .derived)) -}}
{{- end -}}
{{- else if and (not (kindIs "invalid" .given)) (ne (float64 .given) (floor .given)) -}}
{{- $problems = append $problems (printf "%s.gpus: %v is neither a whole number of GPUs nor a share below 1: use a whole number (TP×PP), or 1/N of one GPU with engine: ray" $key .given) -}}
{{- else if and (not (kindIs "invalid" .given)) (gt (int .given) 0) (ne (int .given) (int .derived)) -}}
{{- $problems = append $problems (printf "%s.gpus (%d) contradicts tensorParallelSize (%d) × pipelineParallelSize (%d) = %d: set gpus: %d, or remove gpus to derive it" $key (int .given) $tp $pp (int .derived) (int .derived)) -}}
{{- end -}}
{{- $gpus := int $m.gpus -}}
{{- $perNode := int $m.gpusPerNode -}}
{{- if gt $gpus $perNode -}}
{{- if ne (mod $gpus $perNode) 0 -}}
{{- $problems = append $problems (printf "%s: %d GPUs per replica do not split evenly over nodes of gpusPerNode (%d): use a multiple of %d GPUs or change gpusPerNode" $key $gpus $perNode $perNode) -}}
{{- end -}}
{{- if eq $m.engine "vllm" -}}
{{- $problems = append $problems (printf "%s.engine: vllm runs one pod per replica but %d GPUs need %d nodes of %d: use engine: ray for multi-node replicas, or lower tensorParallelSize × pipelineParallelSize to %d" $key $gpus (int $m.nodesPerReplica) $perNode $perNode) -}}
{{- end -}}
{{- end -}}
{{- range $section, $res := dict "requests" $m.resources.requests "limits" $m.resources.limits -}}
{{- if and $res (hasKey $res $m.gpuResource) -}}
{{- $problems = append $problems (printf "%s.resources.%s.%s: GPUs are set by gpus / TP×PP (limits == requests): remove it from resources" $key $section $m.gpuResource) -}}
{{- end -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* Autoscaling: a provider that can scale the engine, replica counts the API takes, a scale-down window no
shorter than a cold start, min <= max, a reachable Ray Serve target */}}
{{- define "llm-stack.validate.modelAutoscaling" -}}
{{- $problems := list -}}
{{- $m := .model -}}
{{- $key := .key -}}
{{- $as := $m.autoscaling -}}
{{- $provider := $m.provider -}}
{{- if and (eq $m.engine "ray") (ne $provider "ray") -}}
{{- $problems = append $problems (printf "%s.autoscaling.provider: %q cannot scale engine: ray (a RayService/RayCluster has no /scale subresource): remove it, or set provider: ray (Ray Serve autoscaling + KubeRay autoscaler), or use engine: vllm for an HPA/KEDA on queue depth" $key $provider) -}}
{{- end -}}
{{- if and (eq $m.engine "vllm") (eq $provider "ray") -}}
{{- $problems = append $problems (printf "%s.autoscaling.provider: ray needs engine: ray: set provider: hpa (or keda) for engine: vllm" $key) -}}
{{- end -}}
{{- $problems = concat $problems (include "llm-stack.validate.replicas" (dict "key" $key "model" $m) | fromYamlArray) -}}
{{- if and (eq $m.engine "vllm") (gt (int $as.maxReplicas) (int $as.minReplicas)) (lt (int $as.scaleDownStabilizationSeconds) (int $m.coldStartSeconds)) -}}
{{- $problems = append $problems (printf "%s.autoscaling.scaleDownStabilizationSeconds (%d) is shorter than coldStartSeconds (%d): the %s would drop replicas it must reload within one cold start; set it to at least %d" $key (int $as.scaleDownStabilizationSeconds) (int $m.coldStartSeconds) (upper $provider) (int $m.coldStartSeconds)) -}}
{{- end -}}
{{- if gt (int $as.minReplicas) (int $as.maxReplicas) -}}
{{- $problems = append $problems (printf "%s.autoscaling.minReplicas (%d) is above maxReplicas (%d): raise maxReplicas or lower minReplicas" $key (int $as.minReplicas) (int $as.maxReplicas)) -}}
{{- end -}}
{{- if and (eq $m.engine "ray") (gt (int $as.targetOngoingRequests) (int $as.maxOngoingRequests)) -}}
{{- $problems = append $problems (printf "%s.autoscaling.targetOngoingRequests (%d) is above maxOngoingRequests (%d): a replica could never reach its target; raise maxOngoingRequests or lower the target" $key (int $as.targetOngoingRequests) (int $as.maxOngoingRequests)) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* NewClusterWithIncrementalUpgrade (called for the ray models on it): what KubeRay refuses without (a
GatewayClass, its autoscaler), steps that fit in the surge, and traffic that enters through KubeRay's Gateway, which
the model's Service does not follow */}}
{{- define "llm-stack.validate.modelUpgrade" -}}
{{- $problems := list -}}
{{- $m := .model -}}
{{- $key := printf "%s.ray" .key -}}
{{- $root := .root -}}
{{- $iu := $m.ray.incrementalUpgrade -}}
{{- if not $iu.gatewayClassName -}}
{{- $problems = append $problems (printf "%s.incrementalUpgrade.gatewayClassName: NewClusterWithIncrementalUpgrade shifts traffic through a Gateway that KubeRay creates: name the GatewayClass of your Gateway API controller (kubectl get gatewayclass)" $key) -}}
{{- end -}}
{{- if le (int $m.autoscaling.maxReplicas) (int $m.autoscaling.minReplicas) -}}
{{- $problems = append $problems (printf "%s.upgradeStrategy: NewClusterWithIncrementalUpgrade needs KubeRay's autoscaler, which runs only when autoscaling.maxReplicas is above minReplicas (KubeRay refuses it otherwise): raise maxReplicas, or use NewCluster" $key) -}}
{{- end -}}
{{- if gt (int $m.upgradeOptions.stepSizePercent) (int $m.upgradeOptions.maxSurgePercent) -}}
{{- $problems = append $problems (printf "%s.incrementalUpgrade.stepSizePercent (%d) is above maxSurgePercent (%d): traffic would move faster than capacity; lower it to at most %d" $key (int $m.upgradeOptions.stepSizePercent) (int $m.upgradeOptions.maxSurgePercent) (int $m.upgradeOptions.maxSurgePercent)) -}}
{{- end -}}
{{- if $root.Values.gateway.enabled -}}
{{- if not (regexMatch "^https?://[^/\\s]+(/[^\\s]*)?$" (toString $iu.backendUrl)) -}}
{{- $problems = append $problems (printf "%s.incrementalUpgrade.backendUrl: %q: during an incremental upgrade KubeRay moves traffic through the Gateway %s-gateway, not the model's Service: give the http:// URL at which your Gateway controller serves it (e.g. http://%s-gateway-istio.%s.svc for Istio)" $key (toString $iu.backendUrl) $m.fullname $m.fullname $root.Release.Namespace) -}}
{{- end -}}
{{- else if or $root.Values.ingress.enabled $root.Values.httpRoute.enabled -}}
{{- $problems = append $problems (printf "%s.upgradeStrategy: with NewClusterWithIncrementalUpgrade traffic must enter through KubeRay's Gateway %s-gateway, but the chart's Ingress/HTTPRoute reach the model's Service, which the upgrade bypasses: enable gateway.enabled and set %s.incrementalUpgrade.backendUrl, or use NewCluster" $key $m.fullname $key) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* Without the gateway one host cannot route by model: a host per model */}}
{{- define "llm-stack.validate.modelHost" -}}
{{- $problems := list -}}
{{- $host := .model.routeHost -}}
{{- if hasKey .hosts $host -}}
{{- $problems = append $problems (printf "%s.host: %q is also the host of %s; without the gateway one host can serve one model: set a distinct %s.host, or enable gateway.enabled to route by model name" .key (default "(any host)" $host) (get .hosts $host) .key) -}}
{{- end -}}
{{- $_ := set .hosts $host .key -}}
{{- toYaml $problems -}}
{{- end -}}
