{{/*
Container image references. Context: dict
  "image"      the image values {registry, repository, tag, digest}
  "global"     .Values.global (global.imageRegistry overrides every image's registry, for mirrors)
  "appVersion" the chart's appVersion (the default tag)
  "key"        the values key of the image, for messages (e.g. image, gateway.image)
*/}}

{{/* What is wrong with an image's values, as a YAML list of messages that name the key and the fix. */}}
{{- define "llm-common.image.problems" -}}
{{- $img := .image -}}
{{- $key := .key -}}
{{- $problems := list -}}
{{- if and (not (kindIs "invalid" $img.tag)) (not (kindIs "string" $img.tag)) -}}
{{- $problems = append $problems (printf "%s.tag: %v is a number to YAML, not a tag (YAML reads 1.10 as 1.1 and 2.0 as 2): quote the tag exactly as written, e.g. %s.tag: \"1.10\"" $key $img.tag $key) -}}
{{- else if eq (toString $img.tag) "latest" -}}
{{- $problems = append $problems (printf "%s.tag: `latest` is not allowed (pods would run whatever the registry holds that day): pin a version such as %s.tag: \"%s\" or set %s.digest" $key $key .appVersion $key) -}}
{{- end -}}
{{- $first := index (splitList "/" (toString $img.repository)) 0 -}}
{{- if and (contains "/" (toString $img.repository)) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $problems = append $problems (printf "%s.repository: %q starts with the registry host %q: set %s.registry: %q and %s.repository: %q" $key (toString $img.repository) $first $key $first $key (trimPrefix (printf "%s/" $first) (toString $img.repository))) -}}
{{- end -}}
{{- if and $img.digest (not (regexMatch "^sha256:[a-f0-9]{64}$" (toString $img.digest))) -}}
{{- $problems = append $problems (printf "%s.digest: %q is not a digest: use the form sha256:<64 hex digits>, or leave it empty and set %s.tag" $key (toString $img.digest) $key) -}}
{{- end -}}
{{- toYaml $problems -}}
{{- end -}}

{{/* The reference: registry/repository@digest, else registry/repository:tag (tag default: appVersion). */}}
{{- define "llm-common.image" -}}
{{- $img := .image -}}
{{- $registry := (.global | default dict).imageRegistry | default $img.registry -}}
{{- $repo := ternary (printf "%s/%s" $registry $img.repository) $img.repository (ne (toString $registry) "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (toString (default .appVersion $img.tag)) -}}
{{- end -}}
{{- end -}}
