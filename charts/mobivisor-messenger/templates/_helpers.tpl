{{/*
Names, labels and the pieces shared by the gateway, worker and migration pods.
*/}}

{{- define "mvm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix: the release name, so `kubectl exec deploy/<release>-gateway` works as documented. */}}
{{- define "mvm.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "mvm.componentName" -}}
{{- printf "%s-%s" (include "mvm.fullname" .ctx) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mvm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Usage: include "mvm.selectorLabels" (dict "ctx" $ "component" "gateway") */}}
{{- define "mvm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mvm.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mvm.labels" -}}
helm.sh/chart: {{ include "mvm.chart" .ctx }}
{{ include "mvm.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mobivisor-messenger
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mvm.image" -}}
{{- $img := .Values.image -}}
{{- $repo := ternary (printf "%s/%s" $img.registry $img.repository) $img.repository (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "mvm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mvm.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ---------- Connection secrets ---------- */}}

{{- define "mvm.secretName" -}}
{{- if and .Values.existingSecret.name (not .Values.evaluation.enabled) -}}
{{- .Values.existingSecret.name -}}
{{- else -}}
{{- printf "%s-connections" (include "mvm.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "mvm.chartMakesSecret" -}}
{{- if or .Values.evaluation.enabled (not .Values.existingSecret.name) }}true{{ end -}}
{{- end -}}

{{- define "mvm.databaseUrlKey" -}}
{{- if include "mvm.chartMakesSecret" . }}DATABASE_URL{{ else }}{{ .Values.existingSecret.databaseUrlKey }}{{ end -}}
{{- end -}}

{{- define "mvm.redisUrlKey" -}}
{{- if include "mvm.chartMakesSecret" . }}REDIS_URL{{ else }}{{ .Values.existingSecret.redisUrlKey }}{{ end -}}
{{- end -}}

{{/* userinfo escaping: urlquery turns a space into "+", which a URL parser keeps literally. */}}
{{- define "mvm.urlEscape" -}}
{{- . | toString | urlquery | replace "+" "%20" -}}
{{- end -}}

{{- define "mvm.postgresCaPath" -}}/etc/mobivisor/postgres-ca/ca.crt{{- end -}}
{{- define "mvm.redisCaPath" -}}/etc/mobivisor/redis-ca/ca.crt{{- end -}}
{{- define "mvm.tlsDir" -}}/etc/mobivisor/tls{{- end -}}

{{/*
Evaluation passwords: taken from values, else from the Secret of an earlier release (so upgrades
keep them), else generated. Stored back into .Values so every template of this render sees the same one.
*/}}
{{- define "mvm.evaluation.password" -}}
{{- $ctx := .ctx -}}
{{- $section := index $ctx.Values.evaluation .service -}}
{{- if not $section.password -}}
{{- $key := ternary "POSTGRES_PASSWORD" "REDIS_PASSWORD" (eq .service "postgresql") -}}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace (printf "%s-evaluation" (include "mvm.fullname" $ctx)) -}}
{{- if and $existing $existing.data (hasKey $existing.data $key) -}}
{{- $_ := set $section "password" (index $existing.data $key | b64dec) -}}
{{- else -}}
{{- $_ := set $section "password" (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{- $section.password -}}
{{- end -}}

{{- define "mvm.databaseUrl" -}}
{{- if .Values.evaluation.enabled -}}
{{- printf "postgresql://mobivisor:%s@%s-postgresql:5432/mobivisor?sslmode=disable" (include "mvm.urlEscape" (include "mvm.evaluation.password" (dict "ctx" . "service" "postgresql"))) (include "mvm.fullname" .) -}}
{{- else if .Values.database.host -}}
{{- $db := .Values.database -}}
{{- $params := dict "sslmode" $db.sslMode -}}
{{- if $db.caSecret.name -}}{{- $_ := set $params "sslrootcert" (include "mvm.postgresCaPath" .) -}}{{- end -}}
{{- range $k, $v := $db.extraParams -}}{{- $_ := set $params $k $v -}}{{- end -}}
{{- $query := list -}}
{{- range $k := keys $params | sortAlpha -}}{{- $query = append $query (printf "%s=%s" (urlquery $k) (index $params $k | toString | urlquery | replace "%2F" "/")) -}}{{- end -}}
{{- $auth := include "mvm.urlEscape" $db.user -}}
{{- if $db.password -}}{{- $auth = printf "%s:%s" $auth (include "mvm.urlEscape" $db.password) -}}{{- end -}}
{{- printf "postgresql://%s@%s:%d/%s?%s" $auth $db.host (int $db.port) (include "mvm.urlEscape" $db.name) (join "&" $query) -}}
{{- end -}}
{{- end -}}

{{- define "mvm.redisUrl" -}}
{{- if .Values.evaluation.enabled -}}
{{- printf "redis://:%s@%s-redis:6379/0" (include "mvm.urlEscape" (include "mvm.evaluation.password" (dict "ctx" . "service" "redis"))) (include "mvm.fullname" .) -}}
{{- else if or .Values.redis.host .Values.redis.sentinel.enabled -}}
{{- $r := .Values.redis -}}
{{- $auth := "" -}}
{{- if or $r.username $r.password -}}
{{- $auth = printf "%s:%s@" (include "mvm.urlEscape" $r.username) (include "mvm.urlEscape" $r.password) -}}
{{- end -}}
{{- /* With Sentinel the host part only has to parse: the primary is discovered. */ -}}
{{- $host := ternary (default $r.sentinel.masterName $r.host) $r.host $r.sentinel.enabled -}}
{{- printf "%s://%s%s:%d/%d" (ternary "rediss" "redis" $r.tls.enabled) $auth $host (int $r.port) (int $r.db) -}}
{{- end -}}
{{- end -}}

{{/* True when neither the chart nor an existing Secret provides a database connection. */}}
{{- define "mvm.connectionsMissing" -}}
{{- if and (not .Values.evaluation.enabled) (not .Values.existingSecret.name) (or (not .Values.database.host) (not (or .Values.redis.host .Values.redis.sentinel.enabled))) }}true{{ end -}}
{{- end -}}

{{/* ---------- TLS ---------- */}}

{{- define "mvm.tlsSource" -}}
{{- if .Values.tls.existingSecret }}existing{{ else if .Values.tls.certManager.enabled }}cert-manager{{ else }}self-signed{{ end -}}
{{- end -}}

{{- define "mvm.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "mvm.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{- define "mvm.serviceDnsNames" -}}
{{- $svc := include "mvm.componentName" (dict "ctx" . "component" "gateway") -}}
{{- list $svc (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson -}}
{{- end -}}

{{- define "mvm.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "https://%s" .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{/* ---------- Configuration (ConfigMap data; also hashed into checksum/config) ---------- */}}

{{- define "mvm.configData" -}}
MVM_HTTP_HOST: "0.0.0.0"
MVM_HTTP_PORT: {{ .Values.containerPorts.https | quote }}
MVM_METRICS_PORT: {{ .Values.containerPorts.metrics | quote }}
MVM_TLS: {{ ternary "on" "off" .Values.tls.enabled | quote }}
{{- if .Values.tls.enabled }}
MVM_TLS_CERT_FILE: {{ printf "%s/tls.crt" (include "mvm.tlsDir" .) | quote }}
MVM_TLS_KEY_FILE: {{ printf "%s/tls.key" (include "mvm.tlsDir" .) | quote }}
{{- end }}
MVM_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
{{- with (include "mvm.publicUrl" .) }}
MVM_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- with .Values.config.trustedProxies }}
MVM_TRUSTED_PROXIES: {{ join "," . | quote }}
{{- end }}
MVM_SESSION_TTL_SECONDS: {{ .Values.config.sessionTtlSeconds | quote }}
MVM_ENROLLMENT_TTL_HOURS: {{ .Values.config.enrollmentTtlHours | quote }}
MVM_SHUTDOWN_GRACE_SECONDS: {{ .Values.config.shutdownGraceSeconds | quote }}
MVM_DATABASE_POOL_SIZE: {{ .Values.config.databasePoolSize | quote }}
MVM_MAX_ENVELOPE_BYTES: {{ .Values.config.maxEnvelopeBytes | int64 | quote }}
MVM_DELIVERED_RETENTION_HOURS: {{ .Values.config.deliveredRetentionHours | quote }}
MVM_UNDELIVERED_RETENTION_DAYS: {{ .Values.config.undeliveredRetentionDays | quote }}
MVM_ACTIVITY_RETENTION_DAYS: {{ .Values.config.activityRetentionDays | quote }}
MVM_ATTACHMENTS_DIR: {{ .Values.config.attachmentsDir | quote }}
MVM_QUEUE_PREFIX: {{ .Values.config.queuePrefix | quote }}
{{- if and (not .Values.evaluation.enabled) .Values.redis.sentinel.enabled }}
MVM_REDIS_SENTINELS: {{ join "," .Values.redis.sentinel.hosts | quote }}
MVM_REDIS_SENTINEL_NAME: {{ .Values.redis.sentinel.masterName | quote }}
{{- end }}
{{- if and (not .Values.evaluation.enabled) .Values.redis.tls.enabled .Values.redis.tls.caSecret.name }}
MVM_REDIS_TLS_CA_FILE: {{ include "mvm.redisCaPath" . | quote }}
{{- end }}
{{- end -}}

{{/* Secret data (stringData) of the chart-made connection Secret. */}}
{{- define "mvm.secretData" -}}
DATABASE_URL: {{ include "mvm.databaseUrl" . | quote }}
REDIS_URL: {{ include "mvm.redisUrl" . | quote }}
{{- end -}}

{{- define "mvm.checksumSecret" -}}
{{- if include "mvm.chartMakesSecret" . -}}
{{- include "mvm.secretData" . | sha256sum -}}
{{- else -}}
{{- /* Content of a Secret we do not own: hashed at upgrade time so `helm upgrade` rolls the pods after it changed. */ -}}
{{- $s := lookup "v1" "Secret" .Release.Namespace .Values.existingSecret.name -}}
{{- printf "%s/%s/%s/%s" .Values.existingSecret.name .Values.existingSecret.databaseUrlKey .Values.existingSecret.redisUrlKey (toJson (($s).data | default dict)) | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* ---------- Pod pieces ---------- */}}

{{- define "mvm.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "mvm.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "mvm.secretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mvm.secretName" . }}
      key: {{ include "mvm.databaseUrlKey" . }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mvm.secretName" . }}
      key: {{ include "mvm.redisUrlKey" . }}
{{- end -}}

{{/* Volumes of the long-running app pods (gateway: tls=true). */}}
{{- define "mvm.appVolumes" -}}
{{- $ctx := .ctx -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: attachments
{{- if $ctx.Values.persistence.attachments.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (printf "%s-attachments" (include "mvm.fullname" $ctx)) $ctx.Values.persistence.attachments.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- if and .tls $ctx.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "mvm.tlsSecretName" $ctx }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- include "mvm.caVolumes" $ctx }}
{{- end -}}

{{- define "mvm.caVolumes" -}}
{{- if and (not .Values.evaluation.enabled) .Values.database.caSecret.name }}
- name: postgres-ca
  secret:
    secretName: {{ .Values.database.caSecret.name }}
    items:
      - key: {{ .Values.database.caSecret.key }}
        path: ca.crt
{{- end }}
{{- if and (not .Values.evaluation.enabled) .Values.redis.tls.enabled .Values.redis.tls.caSecret.name }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.tls.caSecret.name }}
    items:
      - key: {{ .Values.redis.tls.caSecret.key }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "mvm.appVolumeMounts" -}}
{{- $ctx := .ctx -}}
- name: tmp
  mountPath: /tmp
- name: attachments
  mountPath: {{ $ctx.Values.config.attachmentsDir }}
{{- if and .tls $ctx.Values.tls.enabled }}
- name: tls
  mountPath: {{ include "mvm.tlsDir" $ctx }}
  readOnly: true
{{- end }}
{{- include "mvm.caVolumeMounts" $ctx }}
{{- end -}}

{{- define "mvm.caVolumeMounts" -}}
{{- if and (not .Values.evaluation.enabled) .Values.database.caSecret.name }}
- name: postgres-ca
  mountPath: {{ include "mvm.postgresCaPath" . | dir }}
  readOnly: true
{{- end }}
{{- if and (not .Values.evaluation.enabled) .Values.redis.tls.enabled .Values.redis.tls.caSecret.name }}
- name: redis-ca
  mountPath: {{ include "mvm.redisCaPath" . | dir }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Usage: include "mvm.affinity" (dict "ctx" $ "component" "gateway" "values" .Values.gateway) */}}
{{- define "mvm.affinity" -}}
{{- if .values.affinity -}}
{{- toYaml .values.affinity -}}
{{- else if eq .values.podAntiAffinity "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "mvm.selectorLabels" . | nindent 12 }}
{{- else if eq .values.podAntiAffinity "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "mvm.selectorLabels" . | nindent 10 }}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy peers for an external service: CIDRs and/or selectors; none = any address. */}}
{{- define "mvm.netpolPeers" -}}
{{- range .cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- if or .namespaceSelector .podSelector }}
- {{- with .namespaceSelector }}
  namespaceSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .podSelector }}
  podSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Egress rules shared by the gateway, worker and migration policies: DNS, PostgreSQL, Redis. */}}
{{- define "mvm.netpolBaseEgress" -}}
{{- $np := .Values.networkPolicy -}}
- to:
    - namespaceSelector:
        {{- toYaml $np.dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml $np.dns.podSelector | nindent 8 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- if .Values.evaluation.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "mvm.selectorLabels" (dict "ctx" . "component" "postgresql") | nindent 10 }}
  ports:
    - protocol: TCP
      port: 5432
{{- else }}
{{- $peers := include "mvm.netpolPeers" $np.database }}
- ports:
    {{- range $np.database.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- if $peers }}
  to:
    {{- $peers | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "mvm.netpolRedisEgress" -}}
{{- $np := .Values.networkPolicy -}}
{{- if .Values.evaluation.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "mvm.selectorLabels" (dict "ctx" . "component" "redis") | nindent 10 }}
  ports:
    - protocol: TCP
      port: 6379
{{- else }}
{{- $peers := include "mvm.netpolPeers" $np.redis }}
- ports:
    {{- range $np.redis.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- if $peers }}
  to:
    {{- $peers | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* ---------- Checks that a JSON schema cannot express ---------- */}}
{{- define "mvm.validate" -}}
{{- $grace := int .Values.config.shutdownGraceSeconds -}}
{{- if le (int .Values.gateway.terminationGracePeriodSeconds) (add $grace (int .Values.gateway.preStopSleepSeconds)) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%d) must exceed gateway.preStopSleepSeconds + config.shutdownGraceSeconds (%d)" (int .Values.gateway.terminationGracePeriodSeconds) (add $grace (int .Values.gateway.preStopSleepSeconds))) -}}
{{- end -}}
{{- if le (int .Values.worker.terminationGracePeriodSeconds) $grace -}}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must exceed config.shutdownGraceSeconds (%d)" (int .Values.worker.terminationGracePeriodSeconds) $grace) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host is required when ingress.enabled=true" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.existingSecret) (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.issuerRef.name is required when tls.certManager.enabled=true" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.existingSecret) (not .Values.ingress.host) (not .Values.tls.certManager.extraDnsNames) (not .Values.tls.certManager.includeServiceNames) -}}
{{- fail "tls.certManager needs a DNS name: set ingress.host, tls.certManager.extraDnsNames or tls.certManager.includeServiceNames" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.tls.enabled) (not .Values.ingress.tlsSecretName) -}}
{{- fail "ingress.tlsSecretName is required when tls.enabled=false (the ingress then holds the only certificate)" -}}
{{- end -}}
{{- if and (eq .Values.ingress.mode "passthrough") (not .Values.tls.enabled) -}}
{{- fail "ingress.mode=passthrough needs tls.enabled=true (the gateway must terminate TLS)" -}}
{{- end -}}
{{- if and (not .Values.evaluation.enabled) .Values.redis.sentinel.enabled (not .Values.redis.sentinel.hosts) -}}
{{- fail "redis.sentinel.hosts is required when redis.sentinel.enabled=true" -}}
{{- end -}}
{{- end -}}

{{/* Migration hook events. In evaluation mode the database is part of the release and exists only after install. */}}
{{- define "mvm.migrationHook" -}}
{{- if .Values.evaluation.enabled }}post-install,pre-upgrade{{ else }}pre-install,pre-upgrade{{ end -}}
{{- end -}}
