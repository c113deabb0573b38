{{/*
The pieces of a model's pods: pod settings, placement, resources, environment, volumes, the fetch init
container, probes, ports and preStop. The vLLM Deployment, the RayService's head and its workers take them
from here. Context of each: dict "root" $ "model" <a merged model from llm-stack.models>, unless said.
*/}}

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
{{- if gt (int .model.gpusPerPod) 0 -}}
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

{{/* Ray worker groups (in units of numOfHosts pods) for a number of Ray Serve replicas: one per replica, or one
per replicasPerPod replicas with a GPU share (rounded up). Context: dict "model" $m "replicas" N */}}
{{- define "llm-stack.workerPods" -}}
{{- $per := int .model.replicasPerPod -}}
{{- div (add (int .replicas) (sub $per 1)) $per -}}
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

{{/* The compile cache's folder name: the GPU product the model's pods select (GPU Feature Discovery's or GKE's
label; `gpu` when unpinned, `cpu` without GPUs) and a digest of the serving image reference. Context: dict "root"
$ "model" $m */}}
{{- define "llm-stack.compileCacheKey" -}}
{{- $labels := .model.nodeSelector | default dict -}}
{{- $gpu := ternary "gpu" "cpu" (gt (int .model.gpusPerPod) 0) -}}
{{- $product := get $labels "nvidia.com/gpu.product" | default (get $labels "cloud.google.com/gke-accelerator") -}}
{{- if and $product (gt (int .model.gpusPerPod) 0) -}}{{- $gpu = regexReplaceAll "[^A-Za-z0-9._-]+" $product "-" -}}{{- end -}}
{{- printf "%s-%s" $gpu (trunc 12 (sha256sum (include "llm-stack.image" .root))) -}}
{{- end -}}

{{/* Compile caches on the model cache volume, for the containers that mount it (the vLLM container, the Ray
workers; not the Ray head, whose vLLM import would create them on a read-only root). Context: dict "root" $ "model" $m */}}
{{- define "llm-stack.compileCacheEnv" -}}
{{- if .root.Values.modelCache.compileCache }}
{{- /* warm restarts: compiled graphs and kernels on the cache volume, one folder per image (vLLM, torch) and GPU
       product, so that a different version or GPU never reads another's */}}
{{- $dir := printf "%s/.compile/%s" .root.Values.modelCache.mountPath (include "llm-stack.compileCacheKey" .) }}
- name: VLLM_CACHE_ROOT
  value: {{ $dir }}/vllm
- name: TORCHINDUCTOR_CACHE_DIR
  value: {{ $dir }}/inductor
- name: TRITON_CACHE_DIR
  value: {{ $dir }}/triton
- name: CUDA_CACHE_PATH
  value: {{ $dir }}/cuda
{{- if eq (int .model.gpusPerPod) 0 }}
{{- /* vLLM 0.32's CPU backend cannot load its own AOT-compiled artifacts ("no attribute 'finalize_loading'") and
       compiles again; its classic compile cache loads */}}
- name: VLLM_USE_AOT_COMPILE
  value: "0"
{{- end }}
{{- end }}
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
