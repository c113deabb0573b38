{{/*
Names, labels and the validated model list. Every template takes names, labels and models from here.
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

{{/* Accepted model source URI schemes; one place for the template check and its message. */}}
{{- define "llm-stack.sourcePattern" -}}
^(hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?|s3://[a-z0-9][a-z0-9.-]{1,62}(/[^\s]*)?|gs://[a-z0-9][a-z0-9._-]{1,62}(/[^\s]*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[^\s]*)?|file:///[^\s]*)$
{{- end -}}

{{/*
The models list: each entry merged over modelDefaults, checked, and given derived keys:
  id (name usable in object names), index, fullname, gpus (per replica), nodesPerReplica,
  gpusPerPod, provider (what scales it), and config (what the serving package reads).
Fails once, listing every problem found, each naming the key and the fix.
Returns YAML `models: [...]`; use: (include "llm-stack.models" . | fromYaml).models
*/}}
{{- define "llm-stack.models" -}}
{{- $root := . -}}
{{- $errors := list -}}
{{- $models := list -}}
{{- $seen := dict -}}
{{- $hosts := dict -}}
{{- $prefix := include "llm-stack.fullname" $root -}}
{{- $errors = concat $errors (include "llm-stack.validate.release" $root | fromYamlArray) -}}
{{- if not .Values.models -}}
{{- $errors = append $errors "models: the list is empty: add at least one model, e.g. models: [{name: my-model, source: hf://org/model}]" -}}
{{- end -}}
{{- range $i, $entry := .Values.models -}}
{{- $key := printf "models[%d]" $i -}}
{{- $m := include "llm-stack.deepMerge" (dict "base" $root.Values.modelDefaults "over" $entry) | fromYaml -}}
{{- $name := toString $m.name -}}
{{- $id := replace "." "-" $name -}}
{{- $_ := set $m "index" $i -}}
{{- $_ := set $m "id" $id -}}
{{- $_ := set $m "fullname" (printf "%s-%s" $prefix $id) -}}
{{- if hasKey $seen $id -}}
{{- $errors = append $errors (printf "%s.name: %q clashes with %s (names must differ even with '.' read as '-'): rename one of them" $key $name (get $seen $id)) -}}
{{- end -}}
{{- $_ := set $seen $id $key -}}
{{- /* a RayService's name: KubeRay appends suffixes and takes at most 40; else the Service name, a DNS label */ -}}
{{- $limit := ternary 40 63 (eq (toString $m.engine) "ray") -}}
{{- if gt (len $m.fullname) $limit -}}
{{- $errors = append $errors (printf "%s.name: the object name %q (release prefix %q + model) is %d characters; %s: use a shorter release name or set fullnameOverride (the model name stays its public id)" $key $m.fullname $prefix (len $m.fullname) (ternary "KubeRay takes at most 40 for a RayService (it appends suffixes)" "a Service name is at most 63 (a DNS label)" (eq $limit 40))) -}}
{{- end -}}
{{- $source := toString $m.source -}}
{{- if not (regexMatch (include "llm-stack.sourcePattern" $root) $source) -}}
{{- $errors = append $errors (printf "%s.source: %q is not a supported model source: use hf://org/model[@revision], s3://bucket/path, gs://bucket/path, pvc://claim/path or file:///absolute/path" $key $source) -}}
{{- else if regexMatch "^[a-z0-9]+://(.*/)?\\.\\.?(/|@|$)" $source -}}
{{- $errors = append $errors (printf "%s.source: %q has a '.' or '..' path segment: name the path without them (the cache folder is made from it and must stay inside the cache)" $key $source) -}}
{{- end -}}
{{- range $j, $adapter := $m.lora.adapters -}}
{{- if not (regexMatch (include "llm-stack.sourcePattern" $root) (toString $adapter.source)) -}}
{{- $errors = append $errors (printf "%s.lora.adapters[%d].source: %q is not a supported source: use hf://, s3://, gs://, pvc:// or file:///" $key $j (toString $adapter.source)) -}}
{{- else if regexMatch "^[a-z0-9]+://(.*/)?\\.\\.?(/|@|$)" (toString $adapter.source) -}}
{{- $errors = append $errors (printf "%s.lora.adapters[%d].source: %q has a '.' or '..' path segment: name the path without them" $key $j (toString $adapter.source)) -}}
{{- end -}}
{{- end -}}
{{- if and $m.lora.adapters (not $m.lora.enabled) -}}
{{- $errors = append $errors (printf "%s.lora.adapters: adapters are listed but lora.enabled is false: set %s.lora.enabled: true" $key $key) -}}
{{- end -}}
{{- /* GPUs per replica: derived from TP×PP, never contradictory */ -}}
{{- $tp := int $m.tensorParallelSize -}}
{{- $pp := int $m.pipelineParallelSize -}}
{{- $derived := mul $tp $pp -}}
{{- $gpus := $derived -}}
{{- if not (kindIs "invalid" $m.gpus) -}}
{{- $gpus = int $m.gpus -}}
{{- if and (gt $gpus 0) (ne $gpus $derived) -}}
{{- $errors = append $errors (printf "%s.gpus (%d) contradicts tensorParallelSize (%d) × pipelineParallelSize (%d) = %d: set gpus: %d, or remove gpus to derive it" $key $gpus $tp $pp $derived $derived) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $m "gpus" $gpus -}}
{{- $perNode := int $m.gpusPerNode -}}
{{- $nodes := 1 -}}
{{- if gt $gpus $perNode -}}
{{- if ne (mod $gpus $perNode) 0 -}}
{{- $errors = append $errors (printf "%s: %d GPUs per replica do not split evenly over nodes of gpusPerNode (%d): use a multiple of %d GPUs or change gpusPerNode" $key $gpus $perNode $perNode) -}}
{{- end -}}
{{- $nodes = div $gpus $perNode -}}
{{- if eq $m.engine "vllm" -}}
{{- $errors = append $errors (printf "%s.engine: vllm runs one pod per replica but %d GPUs need %d nodes of %d: use engine: ray for multi-node replicas, or lower tensorParallelSize × pipelineParallelSize to %d" $key $gpus $nodes $perNode $perNode) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $m "nodesPerReplica" $nodes -}}
{{- $_ := set $m "gpusPerPod" (ternary (div $gpus $nodes) $gpus (gt $nodes 1)) -}}
{{- range $section, $res := dict "requests" $m.resources.requests "limits" $m.resources.limits -}}
{{- if and $res (hasKey $res $m.gpuResource) -}}
{{- $errors = append $errors (printf "%s.resources.%s.%s: GPUs are set by gpus / TP×PP (limits == requests): remove it from resources" $key $section $m.gpuResource) -}}
{{- end -}}
{{- end -}}
{{- /* autoscaling: who scales what */ -}}
{{- $as := $m.autoscaling -}}
{{- $provider := $as.provider | default (ternary "ray" "hpa" (eq $m.engine "ray")) -}}
{{- if and (eq $m.engine "ray") (ne $provider "ray") -}}
{{- $errors = append $errors (printf "%s.autoscaling.provider: %q cannot scale engine: ray (a RayService/RayCluster has no /scale subresource): remove it, or set provider: ray (Ray Serve autoscaling + KubeRay autoscaler), or use engine: vllm for an HPA/KEDA on queue depth" $key $provider) -}}
{{- end -}}
{{- if and (eq $m.engine "vllm") (eq $provider "ray") -}}
{{- $errors = append $errors (printf "%s.autoscaling.provider: ray needs engine: ray: set provider: hpa (or keda) for engine: vllm" $key) -}}
{{- end -}}
{{- $_ := set $m "provider" $provider -}}
{{- $errors = concat $errors (include "llm-stack.validate.replicas" (dict "key" $key "model" $m) | fromYamlArray) -}}
{{- if and (eq $m.engine "vllm") (gt (int $as.maxReplicas) (int $as.minReplicas)) (lt (int $as.scaleDownStabilizationSeconds) (int $m.coldStartSeconds)) -}}
{{- $errors = append $errors (printf "%s.autoscaling.scaleDownStabilizationSeconds (%d) is shorter than coldStartSeconds (%d): the %s would drop replicas it must reload within one cold start; set it to at least %d" $key (int $as.scaleDownStabilizationSeconds) (int $m.coldStartSeconds) (upper $provider) (int $m.coldStartSeconds)) -}}
{{- end -}}
{{- if gt (int $as.minReplicas) (int $as.maxReplicas) -}}
{{- $errors = append $errors (printf "%s.autoscaling.minReplicas (%d) is above maxReplicas (%d): raise maxReplicas or lower minReplicas" $key (int $as.minReplicas) (int $as.maxReplicas)) -}}
{{- end -}}
{{- if and (eq $m.engine "ray") (gt (int $as.targetOngoingRequests) (int $as.maxOngoingRequests)) -}}
{{- $errors = append $errors (printf "%s.autoscaling.targetOngoingRequests (%d) is above maxOngoingRequests (%d): a replica could never reach its target; raise maxOngoingRequests or lower the target" $key (int $as.targetOngoingRequests) (int $as.maxOngoingRequests)) -}}
{{- end -}}
{{- /* ingress hosts: without the gateway one host cannot route by model */ -}}
{{- if and (or $root.Values.ingress.enabled $root.Values.httpRoute.enabled) (not $root.Values.gateway.enabled) -}}
{{- $host := $m.host | default $root.Values.ingress.host -}}
{{- if hasKey $hosts $host -}}
{{- $errors = append $errors (printf "%s.host: %q is also the host of %s; without the gateway one host can serve one model: set a distinct %s.host, or enable gateway.enabled to route by model name" $key (default "(any host)" $host) (get $hosts $host) $key) -}}
{{- end -}}
{{- $_ := set $hosts $host $key -}}
{{- $_ := set $m "routeHost" $host -}}
{{- end -}}
{{- /* the serving package's config: the same object for the ConfigMap and serveConfigV2 args */ -}}
{{- $config := pick $m "name" "source" "engine" "tensorParallelSize" "pipelineParallelSize" "gpus" "vllm" "lora" "coldStartSeconds" -}}
{{- $_ := set $config "cacheDir" $root.Values.modelCache.mountPath -}}
{{- $_ := set $config "verifyCache" $root.Values.modelCache.verify -}}
{{- /* vLLM aborts in-flight requests on SIGTERM unless given a shutdown timeout: drain within the grace period */ -}}
{{- $drain := sub (int $root.Values.drain.terminationGracePeriodSeconds) (add (int $root.Values.drain.preStopSleepSeconds) 5) -}}
{{- $_ := set $config "drainSeconds" (max 1 $drain) -}}
{{- $_ := set $config "deploymentConfig" (dict
      "max_ongoing_requests" (int $as.maxOngoingRequests)
      "max_queued_requests" (int $as.maxQueuedRequests)
      "autoscaling_config" (dict
        "min_replicas" (int $as.minReplicas)
        "initial_replicas" (int $as.minReplicas)
        "max_replicas" (int $as.maxReplicas)
        "target_ongoing_requests" (int $as.targetOngoingRequests)
        "upscale_delay_s" (int $as.scaleUpStabilizationSeconds)
        "downscale_delay_s" (int $as.scaleDownStabilizationSeconds))) -}}
{{- $_ := set $m "config" $config -}}
{{- $models = append $models $m -}}
{{- end -}}
{{- $errors = concat $errors (include "llm-stack.validate.routes" (dict "root" $root "models" $models) | fromYamlArray) -}}
{{- if $errors -}}
{{- fail (printf "\n\nllm-stack: %d problem(s) in the values:\n  - %s\n" (len $errors) (join "\n  - " $errors)) -}}
{{- end -}}
{{- toYaml (dict "models" $models) -}}
{{- end -}}

{{/* Pod-level settings shared by every model pod. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.podSpecCommon" -}}
serviceAccountName: {{ include "llm-stack.serviceAccountName" .root }}
automountServiceAccountToken: {{ .root.Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .root.Values.drain.terminationGracePeriodSeconds }}
{{- with .root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Placement of pods that hold the model (GPU pods tolerate the GPU taint). Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.modelPlacement" -}}
{{- with .model.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := .model.tolerations | default list -}}
{{- if gt (int .model.gpus) 0 -}}
{{- $tolerations = append $tolerations (dict "key" .model.gpuResource "operator" "Exists" "effect" "NoSchedule") -}}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .model.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Resources of a container that holds the model: GPUs added with limits == requests. Context: dict "root" $ "model" $m "gpus" N */}}
{{- define "llm-stack.modelResources" -}}
{{- $res := deepCopy (.model.resources | default dict) -}}
{{- $requests := get $res "requests" | default dict -}}
{{- $limits := get $res "limits" | default dict -}}
{{- if gt (int .gpus) 0 -}}
{{- $_ := set $requests .model.gpuResource (int .gpus) -}}
{{- $_ := set $limits .model.gpuResource (int .gpus) -}}
{{- end -}}
{{- $_ := set $res "requests" $requests -}}
{{- $_ := set $res "limits" $limits -}}
{{- toYaml $res -}}
{{- end -}}

{{/* Environment of model containers. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.modelEnv" -}}
- name: LLM_STACK_CONFIG
  value: /etc/llm-stack/model.json
- name: LLM_STACK_CACHE_DIR
  value: {{ .root.Values.modelCache.mountPath }}
- name: HOME
  value: /tmp/home
- name: XDG_CACHE_HOME
  value: /tmp/cache
- name: HF_HOME
  value: {{ printf "%s/.hf" .root.Values.modelCache.mountPath }}
{{- if .root.Values.credentials.hfToken.existingSecret }}
- name: HF_TOKEN_PATH
  value: /var/run/secrets/llm-stack/hf/token
{{- end }}
{{- with .model.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Environment of every Ray pod of a model: Ray Serve's feature flags. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.rayEnv" -}}
{{- if .model.ray.directStreaming }}
{{- /* HAProxy replaces the Serve proxy (direct ingress to replicas); the LLMServer serves vLLM's own app */}}
- name: RAY_SERVE_ENABLE_HA_PROXY
  value: "1"
- name: RAY_SERVE_LLM_ENABLE_DIRECT_STREAMING
  value: "1"
- name: RAY_SERVE_THROUGHPUT_OPTIMIZED
  value: "1"
{{- end }}
{{- end -}}

{{- define "llm-stack.modelEnvFrom" -}}
{{- range .root.Values.credentials.envFromSecrets }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/* Volumes of pods that hold the model. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.modelVolumes" -}}
{{- $cache := .root.Values.modelCache -}}
- name: config
  configMap:
    name: {{ .model.fullname }}-config
- name: tmp
  emptyDir: {}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .model.shmSize }}
- name: model-cache
{{- if eq $cache.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ $cache.pvc.existingClaim | default (printf "%s-model-cache" (include "llm-stack.fullname" .root)) }}
{{- else if eq $cache.type "hostPath" }}
  hostPath:
    path: {{ $cache.hostPath.path }}
    type: DirectoryOrCreate
{{- else }}
  emptyDir:
    sizeLimit: {{ $cache.emptyDir.sizeLimit }}
{{- end }}
{{- with .root.Values.credentials.hfToken.existingSecret }}
- name: hf-token
  secret:
    secretName: {{ . }}
    defaultMode: 0400
    items:
      - key: {{ $.root.Values.credentials.hfToken.key }}
        path: token
{{- end }}
{{- range $claim := include "llm-stack.sourceClaims" .model | fromYamlArray }}
- name: source-{{ $claim }}
  persistentVolumeClaim:
    claimName: {{ $claim }}
    readOnly: true
{{- end }}
{{- with .model.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "llm-stack.modelVolumeMounts" -}}
- name: config
  mountPath: /etc/llm-stack
  readOnly: true
- name: tmp
  mountPath: /tmp
- name: dshm
  mountPath: /dev/shm
- name: model-cache
  mountPath: {{ .root.Values.modelCache.mountPath }}
{{- if .root.Values.credentials.hfToken.existingSecret }}
- name: hf-token
  mountPath: /var/run/secrets/llm-stack/hf
  readOnly: true
{{- end }}
{{- range $claim := include "llm-stack.sourceClaims" .model | fromYamlArray }}
- name: source-{{ $claim }}
  mountPath: /mnt/sources/{{ $claim }}
  readOnly: true
{{- end }}
{{- with .model.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Claims named by pvc:// sources of a model and its adapters, as a YAML list. Context: model */}}
{{- define "llm-stack.sourceClaims" -}}
{{- $claims := list -}}
{{- $sources := list .source -}}
{{- range .lora.adapters }}{{ $sources = append $sources .source }}{{ end -}}
{{- range $sources -}}
{{- if hasPrefix "pvc://" (toString .) -}}
{{- $claims = append $claims (index (splitList "/" (trimPrefix "pvc://" .)) 0) -}}
{{- end -}}
{{- end -}}
{{- toYaml (uniq $claims) -}}
{{- end -}}

{{/* Init container that fetches the weights into the cache before the engine starts. Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.fetchInitContainer" -}}
- name: fetch-model
  image: {{ include "llm-stack.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command: ["llm-serving", "fetch", "--config", "/etc/llm-stack/model.json"]
  env:
    {{- include "llm-stack.modelEnv" . | nindent 4 }}
  {{- with include "llm-stack.modelEnvFrom" . }}
  envFrom:
    {{- . | nindent 4 }}
  {{- end }}
  resources:
    requests:
      cpu: 500m
      memory: 1Gi
    limits:
      memory: 4Gi
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    {{- include "llm-stack.modelVolumeMounts" . | nindent 4 }}
{{- end -}}

{{/* Liveness of any Ray pod: its raylet answers (the check KubeRay would inject, as an HTTP probe). */}}
{{- define "llm-stack.rayLivenessProbe" -}}
livenessProbe:
  httpGet:
    path: /api/local_raylet_healthz
    port: 52365
  initialDelaySeconds: 30
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 120
{{- end -}}

{{/* Ray's ports, pinned by the Ray pods' rayStartParams (llm-stack.rayStartParams) so that the NetworkPolicy
can open exactly these between one model's pods. Ray picks the four agent and manager ports at random
otherwise; workers take 10002-19999 by default; direct streaming's replicas listen in Serve's ranges. */}}
{{- define "llm-stack.rayPorts" -}}
gcs: 6379
nodeManager: 6380
objectManager: 6381
runtimeEnvAgent: 6382
dashboardAgentGrpc: 6383
dashboardAgent: 52365
dashboard: 8265
client: 10001
metrics: 8080
serve: 8000
minWorker: 10002
maxWorker: 19999
directIngressHttp: [30000, 31000]
directIngressGrpc: [40000, 41000]
{{- end -}}

{{/* rayStartParams that pin Ray's ports on every Ray pod. Context: the root. */}}
{{- define "llm-stack.rayStartParams" -}}
{{- $p := include "llm-stack.rayPorts" . | fromYaml -}}
node-manager-port: {{ $p.nodeManager | quote }}
object-manager-port: {{ $p.objectManager | quote }}
runtime-env-agent-port: {{ $p.runtimeEnvAgent | quote }}
dashboard-agent-grpc-port: {{ $p.dashboardAgentGrpc | quote }}
dashboard-agent-listen-port: {{ $p.dashboardAgent | quote }}
metrics-export-port: {{ $p.metrics | quote }}
min-worker-port: {{ $p.minWorker | quote }}
max-worker-port: {{ $p.maxWorker | quote }}
{{- end -}}

{{/* NetworkPolicy port rules of Ray's traffic among one model's pods. Context: dict "ports" "model" */}}
{{- define "llm-stack.rayPortRules" -}}
{{- $p := .ports -}}
- {port: {{ $p.gcs }}, endPort: {{ $p.dashboardAgentGrpc }}, protocol: TCP}
- {port: {{ $p.serve }}, protocol: TCP}
- {port: {{ $p.metrics }}, protocol: TCP}
- {port: {{ $p.dashboard }}, protocol: TCP}
- {port: {{ $p.client }}, endPort: {{ $p.maxWorker }}, protocol: TCP}
- {port: {{ $p.dashboardAgent }}, protocol: TCP}
{{- if .model.ray.directStreaming }}
- {port: {{ index $p.directIngressHttp 0 }}, endPort: {{ index $p.directIngressHttp 1 }}, protocol: TCP}
- {port: {{ index $p.directIngressGrpc 0 }}, endPort: {{ index $p.directIngressGrpc 1 }}, protocol: TCP}
{{- end }}
{{- end -}}

{{- /* the drain file first: vLLM then closes every kept-alive connection (llm_serving.drain), so clients
       reconnect to the pods that stay while this one is still serving; then the endpoints' grace */ -}}
{{- define "llm-stack.preStop" -}}
lifecycle:
  preStop:
    exec:
      command: ["sh", "-c", "touch /tmp/llm-serving-draining; sleep {{ .Values.drain.preStopSleepSeconds }}"]
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
