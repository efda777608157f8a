{{/* Names and labels shared by every template. */}}
{{- define "portal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-portal" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "portal.labels" -}}
app.kubernetes.io/name: portal
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: portal.selector (dict "ctx" $ "component" "web") */}}
{{- define "portal.selector" -}}
app.kubernetes.io/name: portal
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "portal.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The Secret holding the portal's keys and tokens: the site's own (existingSecret) or the one this chart makes. */}}
{{- define "portal.secretName" -}}
{{- .Values.secrets.existingSecret | default .Values.secrets.name -}}
{{- end -}}

{{- define "portal.databaseCluster" -}}
{{- printf "%s-db" (include "portal.fullname" .) -}}
{{- end -}}

{{- define "portal.xrootdName" -}}
{{- printf "%s-xrootd" (include "portal.fullname" .) -}}
{{- end -}}

{{- define "portal.xrootdUrl" -}}
{{- if eq .Values.xrootd.mode "statefulset" -}}
{{- printf "root://%s:%d" (include "portal.xrootdName" .) (int .Values.xrootd.statefulset.port) -}}
{{- else -}}
{{- .Values.xrootd.external.url -}}
{{- end -}}
{{- end -}}

{{- define "portal.hubUrl" -}}
{{- if .Values.launch.hubUrl -}}
{{- .Values.launch.hubUrl -}}
{{- else if .Values.jupyterhub.enabled -}}
http://proxy-public
{{- end -}}
{{- end -}}

{{/*
The environment every portal process (web, worker, migration job) gets: each PORTAL_<NAME> is a setting of
portal/settings.py. Secrets come by secretKeyRef, never as values.
*/}}
{{- define "portal.env" -}}
- name: PORTAL_BASE_URL
  value: {{ .Values.portal.baseUrl | quote }}
- name: PORTAL_SITE_NAME
  value: {{ .Values.portal.siteName | quote }}
- name: PORTAL_ADMIN_EMAIL
  value: {{ .Values.portal.adminEmail | quote }}
- name: PORTAL_LOG_FORMAT
  value: {{ .Values.portal.logFormat | quote }}
- name: PORTAL_LOG_LEVEL
  value: {{ .Values.portal.logLevel | quote }}
- name: PORTAL_HOST
  value: "0.0.0.0"
- name: PORTAL_PORT
  value: {{ .Values.web.port | quote }}
- name: PORTAL_VAR_DIR
  value: /var/lib/portal
- name: PORTAL_LOAD_DEMO
  value: "false"
- name: PORTAL_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "portal.secretName" . }}, key: secret-key}
# OpenID Connect providers (JSON with client secrets): only ever from the Secret, absent means none
- name: PORTAL_OIDC_PROVIDERS
  valueFrom:
    secretKeyRef: {name: {{ include "portal.secretName" . }}, key: oidc-providers, optional: true}
{{- if eq .Values.database.mode "cloudnativepg" }}
{{- /* CloudNativePG writes the owner's credentials to <cluster>-app; the URL is assembled by Kubernetes'
       $(VAR) expansion (its generated passwords are URL-safe). */}}
- name: PORTAL_DB_USER
  valueFrom:
    secretKeyRef: {name: {{ include "portal.databaseCluster" . }}-app, key: username}
- name: PORTAL_DB_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "portal.databaseCluster" . }}-app, key: password}
- name: PORTAL_DATABASE_URL
  value: {{ printf "postgresql+psycopg://$(PORTAL_DB_USER):$(PORTAL_DB_PASSWORD)@%s-rw:5432/%s" (include "portal.databaseCluster" .) .Values.database.cloudnativepg.database | quote }}
{{- else }}
- name: PORTAL_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.external.existingSecret }}, key: {{ .Values.database.external.key }}}
{{- end }}
{{- with .Values.pids }}
- name: PORTAL_PID_PROVIDER
  value: {{ .provider | quote }}
- name: PORTAL_DOI_PREFIX
  value: {{ .doiPrefix | quote }}
{{- if eq .provider "datacite" }}
- name: PORTAL_DATACITE_URL
  value: {{ .dataciteUrl | quote }}
- name: PORTAL_DATACITE_USERNAME
  value: {{ .dataciteUsername | quote }}
{{- end }}
{{- end }}
{{- if eq .Values.pids.provider "datacite" }}
- name: PORTAL_DATACITE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "portal.secretName" . }}, key: datacite-password, optional: true}
{{- end }}
- name: PORTAL_SEARCH_BACKEND
  value: postgres
- name: PORTAL_STORAGE_BACKEND
  value: xrootd
- name: PORTAL_XROOTD_URL
  value: {{ include "portal.xrootdUrl" . | quote }}
- name: PORTAL_XROOTD_EXPORT
  value: {{ .Values.xrootd.export | quote }}
- name: PORTAL_LAUNCH_ENABLED
  value: {{ .Values.launch.enabled | quote }}
{{- if .Values.launch.enabled }}
- name: PORTAL_LAUNCH_BUILDER
  value: {{ .Values.launch.builder | quote }}
- name: PORTAL_LAUNCH_REGISTRY
  value: {{ .Values.launch.registry | quote }}
{{- if .Values.launch.dockerUrl }}
- name: PORTAL_LAUNCH_DOCKER_URL
  value: {{ .Values.launch.dockerUrl | quote }}
{{- end }}
{{- if eq .Values.launch.builder "podman" }}
- name: PORTAL_LAUNCH_IMAGES_DIR
  value: {{ .Values.launch.podman.imagesDir | quote }}
- name: PORTAL_LAUNCH_BUILD_NETWORK
  value: {{ .Values.launch.podman.buildNetwork | quote }}
{{- end }}
- name: PORTAL_LAUNCH_LAUNCHER
  value: jupyterhub
- name: PORTAL_LAUNCH_HUB_URL
  value: {{ include "portal.hubUrl" . | quote }}
- name: PORTAL_LAUNCH_HUB_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "portal.secretName" . }}, key: hub-token}
- name: PORTAL_LAUNCH_GIT_HOSTS
  value: {{ .Values.launch.gitHosts | quote }}
- name: PORTAL_LAUNCH_ALLOW_FILE_URLS
  value: "false"
{{- end }}
- name: PORTAL_PROCESSING_EXECUTOR
  value: {{ .Values.processing.executor | quote }}
{{- if .Values.processing.scheduler }}
- name: PORTAL_PROCESSING_SCHEDULER
  value: {{ .Values.processing.scheduler | quote }}
{{- end }}
{{- if eq .Values.processing.executor "gateway" }}
{{- $gw := .Values.processing.gateway }}
- name: PORTAL_GATEWAY_URL
  value: {{ $gw.url | default (index .Values "dask-gateway" "enabled" | ternary "http://traefik-dask-gateway" "") | quote }}
- name: PORTAL_GATEWAY_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "portal.secretName" . }}, key: gateway-password}
- name: PORTAL_GATEWAY_MAX_WORKERS
  value: {{ $gw.maxWorkers | quote }}
- name: PORTAL_GATEWAY_WORKER_MEMORY
  value: {{ $gw.workerMemory | quote }}
- name: PORTAL_GATEWAY_IDLE_TIMEOUT
  value: {{ $gw.idleTimeout | quote }}
{{- end }}
{{- range $name, $value := .Values.portal.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "portal.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "portal.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  capabilities: {drop: [ALL]}
{{- end -}}

{{/* The hub's spawn hook runs images of the registry in its own environment (jupyterhub.hub.extraEnv): the
     portal's launch.registry must be that one, or every launch pulls an image the hook refuses. */}}
{{- define "portal.checkRegistry" -}}
{{- if and .Values.launch.enabled .Values.jupyterhub.enabled -}}
{{- $hub := (.Values.jupyterhub.hub.extraEnv | default dict).PORTAL_LAUNCH_REGISTRY | default "" -}}
{{- if ne (toString $hub) (toString .Values.launch.registry) -}}
{{- fail (printf "launch.registry (%q) and jupyterhub.hub.extraEnv.PORTAL_LAUNCH_REGISTRY (%q) must be equal: the hub runs only images of its registry" .Values.launch.registry $hub) -}}
{{- end -}}
{{- end -}}
{{- end -}}
