{{/*
Policy-scan (checkov) exceptions shared by every workload of both charts, each with its reason. Rendered as
annotations on the objects that own the pods; each chart adds its own beyond these (numbered from 4).
*/}}
{{- define "llm-common.policySkips" -}}
checkov.io/skip1: CKV_K8S_43=Pinned by version tag by default; set the image digest to pin by digest
checkov.io/skip2: CKV_K8S_15=IfNotPresent is right for a pinned tag; Always re-pulls the image on every start
checkov.io/skip3: CKV_K8S_11=No CPU limit by design; CFS throttling adds latency and requests reserve the CPU
{{- end -}}
