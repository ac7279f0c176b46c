{{/*
Names, labels and the pieces every role's Deployment shares. A "role" here is
one of embedded (aiond --role all), gateway, control, modhost; its values live
under .Values.<role>. The modules run in the embedded aiond, or in split mode
in the module host (modhost.enabled) or else in control.
*/}}

{{- define "aionos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aionos.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "aionos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The roles this release runs, as a JSON list. */}}
{{- define "aionos.roles" -}}
{{- if and (eq .Values.mode "split") .Values.modhost.enabled -}}
["gateway","control","modhost"]
{{- else if eq .Values.mode "split" -}}
["gateway","control"]
{{- else -}}
["embedded"]
{{- end -}}
{{- end }}

{{/* Name of a role's objects: the embedded aiond takes the release's name. */}}
{{- define "aionos.roleName" -}}
{{- $root := .root }}
{{- if eq .role "embedded" }}
{{- include "aionos.fullname" $root }}
{{- else }}
{{- printf "%s-%s" (include "aionos.fullname" $root | trunc 54 | trimSuffix "-") .role }}
{{- end }}
{{- end }}

{{/* aiond's --role for a chart role. */}}
{{- define "aionos.cliRole" -}}
{{- if eq . "embedded" }}all{{ else }}{{ . }}{{ end }}
{{- end }}

{{- define "aionos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aionos.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "aionos.labels" -}}
helm.sh/chart: {{ include "aionos.chart" .root }}
{{ include "aionos.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aionos
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Labels of objects that belong to no one role (ConfigMap, ServiceAccount). */}}
{{- define "aionos.commonLabels" -}}
helm.sh/chart: {{ include "aionos.chart" . }}
app.kubernetes.io/name: {{ include "aionos.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aionos
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "aionos.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aionos.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aionos.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "aionos.policiesConfigMap" -}}
{{- default (printf "%s-policies" (include "aionos.fullname" .)) .Values.policies.existingConfigMap }}
{{- end }}

{{/* The policy files: the chart's copy of policies/ plus overrides. */}}
{{- define "aionos.policyFiles" -}}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "files/policies/*.yml" }}
{{- $_ := set $files (base $path) ($.Files.Get $path) }}
{{- end }}
{{- range $name, $content := .Values.policies.overrides }}
{{- $_ := set $files $name $content }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* Does this role keep its data on a PersistentVolumeClaim? The embedded
aiond and control do (SQLite, registered modules); a gateway keeps nothing. */}}
{{- define "aionos.persistent" -}}
{{- if and .root.Values.persistence.enabled (or (eq .role "embedded") (eq .role "control")) }}true{{ end }}
{{- end }}

{{- define "aionos.claimName" -}}
{{- default (printf "%s-data" (include "aionos.roleName" .)) .root.Values.persistence.existingClaim }}
{{- end }}

{{/* Container ports of a role: name -> port. */}}
{{- define "aionos.ports" -}}
{{- $p := .root.Values.ports }}
{{- if eq .role "embedded" }}
{"http": {{ $p.gateway }}, "grpc": {{ $p.gatewayGrpc }}, "admin": {{ $p.control }}}
{{- else if eq .role "gateway" }}
{"http": {{ $p.gateway }}, "grpc": {{ $p.gatewayGrpc }}}
{{- else if eq .role "control" }}
{"admin": {{ $p.control }}, "grpc": {{ $p.controlGrpc }}}
{{- else if eq .role "modhost" }}
{"grpc": {{ $p.modhostGrpc }}, "http": {{ $p.modhost }}}
{{- end }}
{{- end }}

{{/* The port serving /healthz, /readyz and /metrics. */}}
{{- define "aionos.httpPort" -}}
{{- if or (eq .role "embedded") (eq .role "gateway") (eq .role "modhost") }}http{{ else if eq .role "control" }}admin{{ end }}
{{- end }}

{{/* The port Prometheus scrapes: one per process (the embedded aiond serves one
registry on both ports; docs/observability.md scrapes the control port). */}}
{{- define "aionos.metricsPort" -}}
{{- if or (eq .role "embedded") (eq .role "control") }}admin{{ else if or (eq .role "gateway") (eq .role "modhost") }}http{{ end }}
{{- end }}

{{/* Roles that run modules: the embedded aiond; in split mode the module host
when modhost.enabled, else control. */}}
{{- define "aionos.runsModules" -}}
{{- if or (eq .role "embedded") (eq .role "modhost") (and (eq .role "control") (not .root.Values.modhost.enabled)) }}true{{ end }}
{{- end }}

{{/* Roles whose listeners take the public TLS of secrets.tls (AION_TLS_*): all
but the module host, whose health port aiond serves in plain HTTP (its gRPC
port takes the internal TLS). */}}
{{- define "aionos.publicTls" -}}
{{- if and .root.Values.secrets.tls.existingSecret (ne .role "modhost") }}true{{ end }}
{{- end }}

{{/* Roles that read the policy files: not the module host, which runs only
what the control plane sends it. */}}
{{- define "aionos.readsPolicies" -}}
{{- if ne .role "modhost" }}true{{ end }}
{{- end }}

{{/* The Secret with tls.crt, tls.key and ca.crt for a split role's mutual TLS
(AION_INTERNAL_TLS_*); empty for the embedded aiond, which has no internal API. */}}
{{- define "aionos.internalTlsSecret" -}}
{{- $t := .root.Values.secrets.internalTls }}
{{- if eq .role "gateway" }}{{ default $t.existingSecret $t.gatewaySecret }}
{{- else if eq .role "control" }}{{ default $t.existingSecret $t.controlSecret }}
{{- else if eq .role "modhost" }}{{ default $t.existingSecret $t.modhostSecret }}
{{- end }}
{{- end }}

{{- define "aionos.callsProviders" -}}
{{- if or (eq .role "embedded") (eq .role "control") }}true{{ end }}
{{- end }}

{{- define "aionos.servesGateway" -}}
{{- if or (eq .role "embedded") (eq .role "gateway") }}true{{ end }}
{{- end }}

{{- define "aionos.servesControl" -}}
{{- if or (eq .role "embedded") (eq .role "control") }}true{{ end }}
{{- end }}

{{/* Environment of a role's aiond container. */}}
{{- define "aionos.env" -}}
{{- $root := .root }}
{{- $role := .role }}
{{- $v := $root.Values -}}
- name: AION_BIND_ADDRESS
  value: 0.0.0.0
{{- if include "aionos.readsPolicies" . }}
- name: AION_POLICY_DIR
  value: /etc/aionos/policies
{{- end }}
- name: AION_DATA_DIR
  value: /var/lib/aionos
{{- range $name, $value := $v.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- if include "aionos.servesGateway" . }}
- name: AION_GATEWAY_PORT
  value: {{ $v.ports.gateway | quote }}
- name: AION_GATEWAY_GRPC_PORT
  value: {{ $v.ports.gatewayGrpc | quote }}
{{- end }}
{{- if include "aionos.servesControl" . }}
- name: AION_CONTROL_PORT
  value: {{ $v.ports.control | quote }}
{{- end }}
{{- if and $v.secrets.apiKeys.existingSecret (or (include "aionos.servesGateway" .) (include "aionos.servesControl" .)) }}
- name: AION_GATEWAY_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.apiKeys.existingSecret }}
      key: {{ $v.secrets.apiKeys.key }}
{{- end }}
{{- if eq $role "gateway" }}
- name: AION_CONTROL_GRPC
  value: {{ printf "%s:%v" (include "aionos.roleName" (dict "root" $root "role" "control")) $v.ports.controlGrpc | quote }}
{{- end }}
{{- if eq $role "control" }}
- name: AION_CONTROL_GRPC_PORT
  value: {{ $v.ports.controlGrpc | quote }}
{{- if $v.modhost.enabled }}
- name: AION_MODHOST_GRPC
  value: {{ printf "%s:%v" (include "aionos.roleName" (dict "root" $root "role" "modhost")) $v.ports.modhostGrpc | quote }}
{{- end }}
{{- end }}
{{- if eq $role "modhost" }}
- name: AION_MODHOST_GRPC_PORT
  value: {{ $v.ports.modhostGrpc | quote }}
- name: AION_MODHOST_PORT
  value: {{ $v.ports.modhost | quote }}
{{- end }}
{{- if include "aionos.runsModules" . }}
- name: AION_SANDBOX_ALLOW_WEAK
  value: {{ $v.sandbox.allowWeak | quote }}
{{- with $v.sandbox.gpus }}
- name: AION_MODULE_HOST_GPUS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if include "aionos.servesControl" . }}
{{- with $v.engines.postgres }}
{{- if .existingSecret }}
- name: AION_CONTROL_POSTGRES_DSN
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- else if .dsn }}
- name: AION_CONTROL_POSTGRES_DSN
  value: {{ .dsn | quote }}
{{- end }}
{{- if or .existingSecret .dsn }}
# One control replica, replaced with Recreate: a fixed plane id lets the new
# pod take the old one's unfinished tasks back at start, not after its lease.
- name: AION_CONTROL_PLANE_ID
  value: {{ printf "%s-control" (include "aionos.fullname" $root) | quote }}
{{- end }}
{{- end }}
{{- with $v.engines.kafka.brokers }}
- name: KAFKA_BROKERS
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if include "aionos.servesGateway" . }}
{{- with $v.engines.redis }}
{{- if .existingSecret }}
- name: AION_CONTROL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .key }}
{{- else if .url }}
- name: AION_CONTROL_REDIS_URL
  value: {{ .url | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if include "aionos.publicTls" . }}
- name: AION_TLS_CERT
  value: /etc/aionos/tls/tls.crt
- name: AION_TLS_KEY
  value: /etc/aionos/tls/tls.key
{{- end }}
{{- if include "aionos.internalTlsSecret" . }}
- name: AION_INTERNAL_TLS_CERT
  value: /etc/aionos/internal-tls/tls.crt
- name: AION_INTERNAL_TLS_KEY
  value: /etc/aionos/internal-tls/tls.key
- name: AION_INTERNAL_TLS_CA
  value: /etc/aionos/internal-tls/ca.crt
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Probes of a role: HTTP on /healthz and /readyz (a gateway's /readyz is 503
while it cannot reach the control plane; a module host's is 200 once it
listens); HTTPS where secrets.tls applies. .Values.<role>.probes replaces any
of them. */}}
{{- define "aionos.probes" -}}
{{- $root := .root }}
{{- $rv := index $root.Values .role }}
{{- $port := include "aionos.httpPort" . }}
{{- $scheme := ternary "HTTPS" "HTTP" (not (empty (include "aionos.publicTls" .))) }}
{{- $probes := dict }}
{{- $_ := set $probes "startupProbe" (dict "httpGet" (dict "path" "/healthz" "port" $port "scheme" $scheme) "periodSeconds" 2 "failureThreshold" 60 "timeoutSeconds" 2) }}
{{- $_ := set $probes "livenessProbe" (dict "httpGet" (dict "path" "/healthz" "port" $port "scheme" $scheme) "periodSeconds" 10 "failureThreshold" 3 "timeoutSeconds" 2) }}
{{- $_ := set $probes "readinessProbe" (dict "httpGet" (dict "path" "/readyz" "port" $port "scheme" $scheme) "periodSeconds" 5 "failureThreshold" 2 "timeoutSeconds" 2) }}
{{- range $k, $p := $rv.probes }}
{{- $_ := set $probes $k $p }}
{{- end }}
{{- toYaml $probes }}
{{- end }}

{{/* Refuse values that cannot work, with the reason. */}}
{{- define "aionos.validate" -}}
{{- $v := .Values }}
{{- if and $v.modhost.enabled (ne $v.mode "split") }}
{{- fail "modhost.enabled: the module host serves a control role, so it needs mode: split (the embedded aiond runs the modules in its own process)" }}
{{- end }}
{{- if eq $v.mode "split" }}
{{- if gt (int $v.control.replicas) 1 }}
{{- fail "control.replicas: one control plane only for now: several cannot share a queue yet (SQLite is one process's file; on PostgreSQL a second control plane is refused at start-up), docs/roles.md" }}
{{- end }}
{{- if and $v.modhost.enabled (gt (int $v.modhost.replicas) 1) }}
{{- fail "modhost.replicas: one module host per control plane for now: AION_MODHOST_GRPC names one address, and several module hosts behind one Service would each need the modules loaded (docs/roles.md)" }}
{{- end }}
{{- $roles := include "aionos.roles" . | fromJsonArray }}
{{- $with := list }}
{{- $without := list }}
{{- range $role := $roles }}
{{- if include "aionos.internalTlsSecret" (dict "root" $ "role" $role) }}
{{- $with = append $with $role }}
{{- else }}
{{- $without = append $without $role }}
{{- end }}
{{- end }}
{{- if and $with $without }}
{{- fail (printf "secrets.internalTls: mutual TLS needs a Secret for every role (%s): existingSecret, or one per role (%sSecret); %s has none, and a plaintext side is refused at the handshake" (join ", " $roles) (join "Secret, " $roles) (join ", " $without)) }}
{{- end }}
{{- end }}
{{- if and $v.engines.postgres.existingSecret $v.engines.postgres.dsn }}
{{- fail "engines.postgres: set existingSecret or dsn, not both" }}
{{- end }}
{{- if and $v.engines.redis.existingSecret $v.engines.redis.url }}
{{- fail "engines.redis: set existingSecret or url, not both" }}
{{- end }}
{{- if and $v.sandbox.hostUsers (eq $v.sandbox.procMount "Unmasked") }}
{{- fail "sandbox.procMount: Unmasked needs sandbox.hostUsers: false (a Kubernetes user namespace)" }}
{{- end }}
{{- end }}
