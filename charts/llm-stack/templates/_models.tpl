{{/*
The models list: each entry merged over modelDefaults and given derived keys:
  id (name usable in object names), index, fullname, gpus (per replica; below 1 a GPU share), nodesPerReplica,
  gpusPerPod, replicasPerPod, provider (what scales it), routeHost, and config (what the serving package reads).
Merge and derive only: each rule is an llm-stack.validate.* define (_validate.tpl), called here in one order,
and the chart fails once, listing every problem found, each naming the key and the fix.
Returns YAML `models: [...]`; use: (include "llm-stack.models" . | fromYaml).models
*/}}
{{- define "llm-stack.models" -}}
{{- $root := . -}}
{{- $errors := list -}}
{{- $models := list -}}
{{- $seen := dict -}}  {{- /* rules' memory across models: object ids and hosts already taken */ -}}
{{- $hosts := dict -}}
{{- $prefix := include "llm-stack.fullname" $root -}}
{{- $contract := include "llm-stack.contract" $root | fromYaml -}}
{{- $errors = concat $errors (include "llm-stack.validate.release" $root | fromYamlArray) -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelsPresent" $root | fromYamlArray) -}}
{{- range $i, $entry := .Values.models -}}
{{- $key := printf "models[%d]" $i -}}
{{- $m := include "llm-stack.deepMerge" (dict "base" $root.Values.modelDefaults "over" $entry) | fromYaml -}}
{{- $id := replace "." "-" (toString $m.name) -}}
{{- $_ := set $m "index" $i -}}
{{- $_ := set $m "id" $id -}}
{{- $_ := set $m "fullname" (printf "%s-%s" $prefix $id) -}}
{{- $rule := dict "root" $root "key" $key "model" $m "prefix" $prefix "seen" $seen "hosts" $hosts -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelName" $rule | fromYamlArray) -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelSources" $rule | fromYamlArray) -}}
{{- /* GPUs per replica: TP×PP unless gpus is given (0: a CPU model; below 1: a share of one GPU); the nodes a
replica spans; the Ray Serve replicas one worker pod holds (1/share for a share, whose pods hold one GPU) */ -}}
{{- $derived := mul (int $m.tensorParallelSize) (int $m.pipelineParallelSize) -}}
{{- $given := $m.gpus -}}
{{- $share := and (not (kindIs "invalid" $given)) (gt (float64 $given) 0.0) (lt (float64 $given) 1.0) -}}
{{- $gpus := ternary $derived (int $given) (kindIs "invalid" $given) -}}
{{- $perNode := int $m.gpusPerNode -}}
{{- $nodes := 1 -}}
{{- if gt $gpus $perNode -}}{{- $nodes = div $gpus $perNode -}}{{- end -}}
{{- $_ := set $m "gpus" (ternary (float64 $given) $gpus $share) -}}
{{- $_ := set $m "nodesPerReplica" $nodes -}}
{{- $_ := set $m "gpusPerPod" (ternary 1 (ternary (div $gpus $nodes) $gpus (gt $nodes 1)) $share) -}}
{{- $_ := set $m "replicasPerPod" 1 -}}
{{- if $share -}}{{- $_ := set $m "replicasPerPod" (int (round (divf 1.0 (float64 $given)) 0)) -}}{{- end -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelGpus" (merge (dict "given" $given "derived" $derived "share" $share) $rule) | fromYamlArray) -}}
{{- /* autoscaling: who scales what (Ray Serve for a RayService, else an HPA unless said) */ -}}
{{- $_ := set $m "provider" ($m.autoscaling.provider | default (ternary "ray" "hpa" (eq $m.engine "ray"))) -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelAutoscaling" $rule | fromYamlArray) -}}
{{- /* upgradeOptions, only for a ray model on KubeRay's incremental upgrade: by default the new cluster grows one
worker pod (of minReplicas) at a time, and traffic follows in steps of the same size */ -}}
{{- if and (eq $m.engine "ray") (eq $m.ray.upgradeStrategy "NewClusterWithIncrementalUpgrade") -}}
{{- $iu := $m.ray.incrementalUpgrade -}}
{{- $pods := mul (include "llm-stack.workerPods" (dict "model" $m "replicas" $m.autoscaling.minReplicas) | int) $nodes -}}
{{- $surge := int ($iu.maxSurgePercent | default (ternary (div (add 100 (sub $pods 1)) (max $pods 1)) 100 (gt $pods 0))) -}}
{{- $_ := set $m "upgradeOptions" (dict "gatewayClassName" $iu.gatewayClassName "maxSurgePercent" $surge
      "stepSizePercent" (int ($iu.stepSizePercent | default $surge)) "intervalSeconds" (int $iu.intervalSeconds)) -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelUpgrade" $rule | fromYamlArray) -}}
{{- end -}}
{{- /* the host a model is routed on when no gateway stands in front */ -}}
{{- if and (or $root.Values.ingress.enabled $root.Values.httpRoute.enabled) (not $root.Values.gateway.enabled) -}}
{{- $_ := set $m "routeHost" ($m.host | default $root.Values.ingress.host) -}}
{{- $errors = concat $errors (include "llm-stack.validate.modelHost" $rule | fromYamlArray) -}}
{{- end -}}
{{- /* the serving package's config: the same object for the ConfigMap and serveConfigV2 args */ -}}
{{- $as := $m.autoscaling -}}
{{- $config := dict -}}
{{- range $k, $entry := $contract.keys -}}
{{- if $entry.config -}}{{- $_ := set $config $k (get $m $k) -}}{{- end -}}
{{- end -}}
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
