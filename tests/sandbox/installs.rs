//! Installs shaped like the popular ones, applied with a plain `kubectl apply -f` as their
//! READMEs say: a GitOps controller (CRDs and a custom resource, RBAC, ConfigMaps, Secrets,
//! NetworkPolicies, a StatefulSet), an operator-run monitoring stack (CRDs and their objects, a
//! host-network DaemonSet, a PodDisruptionBudget, an APIService, a custom resource with a scale
//! subresource) and an ingress controller (Jobs, an IngressClass, a webhook configuration). The
//! manifests are written for this test. Every object must be accepted, every pod must end
//! Running and ready (the Jobs' pods Succeeded), and `kubehop chain` must find nothing wrong
//! with their Services.

use std::time::Duration;

use serde_json::Value;

use super::kubectl::Harness;
use super::real_apps::chain_json;
use crate::support::bin::KUBEHOP;
use crate::support::wait::within_for;

/// A GitOps controller's install, shaped like the popular ones: its own namespace, CRDs for
/// applications and projects, service accounts with cluster and namespaced RBAC, config maps
/// and secrets the components read, NetworkPolicies per component, a repo server, an API
/// server with a LoadBalancer-able Service, a Redis, and an application controller run as a
/// StatefulSet behind a headless Service.
const GITOPS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: gitops}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: applications.gitops.example.io
  labels: {app.kubernetes.io/part-of: gitops}
spec:
  group: gitops.example.io
  scope: Namespaced
  names: {kind: Application, listKind: ApplicationList, plural: applications, singular: application, shortNames: [app, apps]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Sync Status, type: string, jsonPath: .status.sync.status}
    - {name: Health Status, type: string, jsonPath: .status.health.status}
    schema:
      openAPIV3Schema:
        type: object
        required: [metadata, spec]
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: appprojects.gitops.example.io
spec:
  group: gitops.example.io
  scope: Namespaced
  names: {kind: AppProject, listKind: AppProjectList, plural: appprojects, singular: appproject, shortNames: [appproj]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: gitops-application-controller, namespace: gitops}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: gitops-server, namespace: gitops}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: gitops-repo-server, namespace: gitops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: gitops-application-controller, namespace: gitops}
rules:
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
- apiGroups: [gitops.example.io]
  resources: [applications, appprojects]
  verbs: [create, get, list, watch, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: gitops-application-controller}
rules:
- apiGroups: ['*']
  resources: ['*']
  verbs: ['*']
- nonResourceURLs: ['*']
  verbs: ['*']
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: gitops-application-controller, namespace: gitops}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: gitops-application-controller}
subjects:
- {kind: ServiceAccount, name: gitops-application-controller, namespace: gitops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: gitops-application-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gitops-application-controller}
subjects:
- {kind: ServiceAccount, name: gitops-application-controller, namespace: gitops}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gitops-cm, namespace: gitops, labels: {app.kubernetes.io/part-of: gitops}}
data:
  timeout.reconciliation: 180s
  url: https://gitops.example.test
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gitops-cmd-params-cm, namespace: gitops}
---
apiVersion: v1
kind: Secret
metadata: {name: gitops-secret, namespace: gitops}
type: Opaque
---
apiVersion: v1
kind: Secret
metadata: {name: gitops-redis, namespace: gitops}
type: Opaque
stringData: {auth: not-a-real-password}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gitops-redis, namespace: gitops, labels: {app.kubernetes.io/name: gitops-redis}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: gitops-redis}}
  template:
    metadata: {labels: {app.kubernetes.io/name: gitops-redis}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 999}
      containers:
      - name: redis
        image: example/redis:7.2-alpine
        args: [--save, '', --appendonly, 'no', --requirepass, $(AUTH)]
        env:
        - name: AUTH
          valueFrom: {secretKeyRef: {name: gitops-redis, key: auth}}
        ports: [{containerPort: 6379}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gitops-repo-server, namespace: gitops, labels: {app.kubernetes.io/name: gitops-repo-server}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: gitops-repo-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: gitops-repo-server}}
    spec:
      serviceAccountName: gitops-repo-server
      automountServiceAccountToken: false
      initContainers:
      - name: copyutil
        image: example/gitops:v3
        command: [/bin/cp, -n, /usr/local/bin/gitops, /var/run/gitops/gitops-cmp-server]
        volumeMounts: [{name: var-files, mountPath: /var/run/gitops}]
      containers:
      - name: repo-server
        image: example/gitops:v3
        args: [/usr/local/bin/gitops-repo-server]
        ports: [{containerPort: 8081}, {containerPort: 8084}]
        readinessProbe:
          httpGet: {path: '/healthz?full=true', port: 8084}
          initialDelaySeconds: 5
          periodSeconds: 10
        livenessProbe:
          httpGet: {path: /healthz, port: 8084}
        volumeMounts: [{name: var-files, mountPath: /var/run/gitops}]
      volumes:
      - {name: var-files, emptyDir: {}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gitops-server, namespace: gitops, labels: {app.kubernetes.io/name: gitops-server}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: gitops-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: gitops-server}}
    spec:
      serviceAccountName: gitops-server
      containers:
      - name: server
        image: example/gitops:v3
        args: [/usr/local/bin/gitops-server]
        ports: [{containerPort: 8080}, {containerPort: 8083}]
        readinessProbe:
          httpGet: {path: '/healthz?full=true', port: 8080}
        env:
        - name: GITOPS_SERVER_INSECURE
          valueFrom: {configMapKeyRef: {name: gitops-cmd-params-cm, key: server.insecure, optional: true}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: gitops-application-controller, namespace: gitops, labels: {app.kubernetes.io/name: gitops-application-controller}}
spec:
  replicas: 1
  serviceName: gitops-application-controller
  selector: {matchLabels: {app.kubernetes.io/name: gitops-application-controller}}
  template:
    metadata: {labels: {app.kubernetes.io/name: gitops-application-controller}}
    spec:
      serviceAccountName: gitops-application-controller
      containers:
      - name: application-controller
        image: example/gitops:v3
        args: [/usr/local/bin/gitops-application-controller]
        ports: [{containerPort: 8082}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8082}
---
apiVersion: v1
kind: Service
metadata: {name: gitops-redis, namespace: gitops}
spec:
  selector: {app.kubernetes.io/name: gitops-redis}
  ports: [{name: tcp-redis, port: 6379, targetPort: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: gitops-repo-server, namespace: gitops}
spec:
  selector: {app.kubernetes.io/name: gitops-repo-server}
  ports:
  - {name: server, port: 8081, targetPort: 8081}
  - {name: metrics, port: 8084, targetPort: 8084}
---
apiVersion: v1
kind: Service
metadata: {name: gitops-server, namespace: gitops}
spec:
  selector: {app.kubernetes.io/name: gitops-server}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: gitops-server-metrics, namespace: gitops}
spec:
  selector: {app.kubernetes.io/name: gitops-server}
  ports: [{name: metrics, port: 8083, targetPort: 8083}]
---
apiVersion: v1
kind: Service
metadata: {name: gitops-application-controller-metrics, namespace: gitops}
spec:
  selector: {app.kubernetes.io/name: gitops-application-controller}
  ports: [{name: metrics, port: 8082, targetPort: 8082}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: gitops-redis-network-policy, namespace: gitops}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: gitops-redis}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app.kubernetes.io/name: gitops-server}}
    - podSelector: {matchLabels: {app.kubernetes.io/name: gitops-repo-server}}
    - podSelector: {matchLabels: {app.kubernetes.io/name: gitops-application-controller}}
    ports: [{protocol: TCP, port: 6379}]
  egress:
  - ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: gitops-server-network-policy, namespace: gitops}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: gitops-server}}
  policyTypes: [Ingress]
  ingress: [{}]
---
apiVersion: gitops.example.io/v1alpha1
kind: AppProject
metadata: {name: default, namespace: gitops}
spec:
  sourceRepos: ['*']
  destinations: [{namespace: '*', server: '*'}]
"#;

/// A monitoring stack run by an operator: CRDs for the monitored targets and the servers,
/// the operator with its RBAC and a webhook Service, custom resources that the operator
/// would turn into StatefulSets (here written out, as the operator would create them), a
/// node exporter DaemonSet on the host network, a PodDisruptionBudget, and the metrics
/// APIService that an adapter serves.
const OPERATED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: observability}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: scrapetargets.monitoring.example.io}
spec:
  group: monitoring.example.io
  scope: Namespaced
  names: {kind: ScrapeTarget, listKind: ScrapeTargetList, plural: scrapetargets, singular: scrapetarget, categories: [monitoring]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              selector: {type: object, x-kubernetes-preserve-unknown-fields: true}
              endpoints:
                type: array
                items:
                  type: object
                  properties:
                    port: {type: string}
                    interval: {type: string}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: metricservers.monitoring.example.io}
spec:
  group: monitoring.example.io
  scope: Namespaced
  names: {kind: MetricServer, listKind: MetricServerList, plural: metricservers, singular: metricserver}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer}
              retention: {type: string}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-operator, namespace: observability}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: node-exporter, namespace: observability}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-operator}
rules:
- apiGroups: [monitoring.example.io]
  resources: ['*']
  verbs: ['*']
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: ['*']
- apiGroups: [""]
  resources: [services, endpoints, pods, configmaps, secrets]
  verbs: [get, list, watch, create, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-operator}
subjects: [{kind: ServiceAccount, name: metrics-operator, namespace: observability}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-operator, namespace: observability, labels: {app.kubernetes.io/name: metrics-operator}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: metrics-operator}}
  template:
    metadata: {labels: {app.kubernetes.io/name: metrics-operator}}
    spec:
      serviceAccountName: metrics-operator
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: operator
        image: example/metrics-operator:v0.80
        ports: [{containerPort: 8080, name: http}, {containerPort: 10250, name: webhook}]
        readinessProbe:
          httpGet: {path: /healthz, port: http}
---
apiVersion: v1
kind: Service
metadata: {name: metrics-operator, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: metrics-operator}
  ports:
  - {name: http, port: 8080, targetPort: http}
  - {name: https-webhook, port: 443, targetPort: webhook}
---
apiVersion: monitoring.example.io/v1
kind: MetricServer
metadata: {name: main, namespace: observability}
spec: {replicas: 2, retention: 24h}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: metricserver-main, namespace: observability, labels: {app.kubernetes.io/name: metricserver, app.kubernetes.io/instance: main}}
spec:
  replicas: 2
  serviceName: metricserver-operated
  selector: {matchLabels: {app.kubernetes.io/name: metricserver, app.kubernetes.io/instance: main}}
  template:
    metadata: {labels: {app.kubernetes.io/name: metricserver, app.kubernetes.io/instance: main}}
    spec:
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app.kubernetes.io/name: metricserver}}
      containers:
      - name: server
        image: example/metricserver:v3
        ports: [{containerPort: 9090, name: web}]
        readinessProbe:
          httpGet: {path: /-/ready, port: web}
          timeoutSeconds: 3
      - name: config-reloader
        image: example/config-reloader:v0.80
        ports: [{containerPort: 8080, name: reloader-web}]
---
apiVersion: v1
kind: Service
metadata: {name: metricserver-operated, namespace: observability}
spec:
  clusterIP: None
  selector: {app.kubernetes.io/name: metricserver}
  ports: [{name: web, port: 9090, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: metricserver-main, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: metricserver, app.kubernetes.io/instance: main}
  sessionAffinity: ClientIP
  ports:
  - {name: web, port: 9090, targetPort: web}
  - {name: reloader-web, port: 8080, targetPort: reloader-web}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: metricserver-main, namespace: observability}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: metricserver, app.kubernetes.io/instance: main}}
---
apiVersion: monitoring.example.io/v1
kind: ScrapeTarget
metadata: {name: node-exporter, namespace: observability}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: node-exporter}}
  endpoints: [{port: https, interval: 15s}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: observability, labels: {app.kubernetes.io/name: node-exporter}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: node-exporter}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 10%}}
  template:
    metadata: {labels: {app.kubernetes.io/name: node-exporter}}
    spec:
      serviceAccountName: node-exporter
      hostNetwork: true
      hostPID: true
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{operator: Exists}]
      containers:
      - name: node-exporter
        image: example/node-exporter:v1.8
        args: [--web.listen-address=127.0.0.1:9100]
      - name: kube-rbac-proxy
        image: example/kube-rbac-proxy:v0.18
        ports: [{containerPort: 9100, hostPort: 9100, name: https}]
---
apiVersion: v1
kind: Service
metadata: {name: node-exporter, namespace: observability}
spec:
  clusterIP: None
  selector: {app.kubernetes.io/name: node-exporter}
  ports: [{name: https, port: 9100, targetPort: https}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: metrics-adapter, namespace: observability, labels: {app.kubernetes.io/name: metrics-adapter}}
spec:
  replicas: 2
  selector: {matchLabels: {app.kubernetes.io/name: metrics-adapter}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
  template:
    metadata: {labels: {app.kubernetes.io/name: metrics-adapter}}
    spec:
      containers:
      - name: adapter
        image: example/metrics-adapter:v0.12
        ports: [{containerPort: 6443}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-adapter, namespace: observability}
spec:
  selector: {app.kubernetes.io/name: metrics-adapter}
  ports: [{name: https, port: 443, targetPort: 6443}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.custom.metrics.example.io}
spec:
  group: custom.metrics.example.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {name: metrics-adapter, namespace: observability}
"#;

/// An ingress controller's install: namespace, RBAC, a controller config map, the controller
/// Deployment behind a LoadBalancer Service and an admission-webhook Service, the two Jobs
/// that create and patch the webhook's certificate, the IngressClass it serves and the
/// ValidatingWebhookConfiguration that points at it.
const INGRESS_CONTROLLER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: edge, labels: {app.kubernetes.io/name: edge-ingress}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: edge-ingress, namespace: edge}
automountServiceAccountToken: true
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: edge-ingress-admission, namespace: edge}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: edge-ingress}
rules:
- apiGroups: [""]
  resources: [configmaps, endpoints, nodes, pods, secrets, namespaces]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch, get]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: edge-ingress}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edge-ingress}
subjects: [{kind: ServiceAccount, name: edge-ingress, namespace: edge}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: edge-ingress-admission, namespace: edge}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: edge-ingress-admission, namespace: edge}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: edge-ingress-admission}
subjects: [{kind: ServiceAccount, name: edge-ingress-admission, namespace: edge}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: edge-ingress-controller, namespace: edge}
data: {allow-snippet-annotations: "false", use-forwarded-headers: "true"}
---
apiVersion: v1
kind: Service
metadata: {name: edge-ingress-controller, namespace: edge}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv4]
  selector: {app.kubernetes.io/name: edge-ingress, app.kubernetes.io/component: controller}
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: http, appProtocol: http}
  - {name: https, port: 443, protocol: TCP, targetPort: https, appProtocol: https}
---
apiVersion: v1
kind: Service
metadata: {name: edge-ingress-controller-admission, namespace: edge}
spec:
  type: ClusterIP
  selector: {app.kubernetes.io/name: edge-ingress, app.kubernetes.io/component: controller}
  ports: [{name: https-webhook, port: 443, targetPort: webhook, appProtocol: https}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge-ingress-controller, namespace: edge}
spec:
  minReadySeconds: 0
  revisionHistoryLimit: 10
  selector: {matchLabels: {app.kubernetes.io/name: edge-ingress, app.kubernetes.io/component: controller}}
  strategy: {rollingUpdate: {maxUnavailable: 1}, type: RollingUpdate}
  template:
    metadata: {labels: {app.kubernetes.io/name: edge-ingress, app.kubernetes.io/component: controller}}
    spec:
      serviceAccountName: edge-ingress
      dnsPolicy: ClusterFirst
      nodeSelector: {kubernetes.io/os: linux}
      terminationGracePeriodSeconds: 300
      containers:
      - name: controller
        image: example/edge-ingress-controller:v1.12
        args: [/edge-ingress-controller, --election-id=edge-ingress-leader, --controller-class=example.io/edge, --ingress-class=edge, --validating-webhook=:8443]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        ports:
        - {name: http, containerPort: 80, protocol: TCP}
        - {name: https, containerPort: 443, protocol: TCP}
        - {name: webhook, containerPort: 8443, protocol: TCP}
        readinessProbe:
          httpGet: {path: /healthz, port: 10254, scheme: HTTP}
          failureThreshold: 3
        livenessProbe:
          httpGet: {path: /healthz, port: 10254, scheme: HTTP}
          failureThreshold: 5
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
          runAsUser: 101
        resources:
          requests: {cpu: 100m, memory: 90Mi}
---
apiVersion: batch/v1
kind: Job
metadata: {name: edge-ingress-admission-create, namespace: edge}
spec:
  template:
    metadata: {name: edge-ingress-admission-create}
    spec:
      serviceAccountName: edge-ingress-admission
      restartPolicy: OnFailure
      containers:
      - name: create
        image: example/kube-webhook-certgen:v1.5
        args: [create, --host=edge-ingress-controller-admission,edge-ingress-controller-admission.$(POD_NAMESPACE).svc, --namespace=$(POD_NAMESPACE), --secret-name=edge-ingress-admission]
        env:
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: edge-ingress-admission-patch, namespace: edge}
spec:
  template:
    metadata: {name: edge-ingress-admission-patch}
    spec:
      serviceAccountName: edge-ingress-admission
      restartPolicy: OnFailure
      containers:
      - name: patch
        image: example/kube-webhook-certgen:v1.5
        args: [patch, --webhook-name=edge-ingress-admission, --namespace=$(POD_NAMESPACE), --patch-mutating=false, --secret-name=edge-ingress-admission, --patch-failure-policy=Fail]
        env:
        - name: POD_NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: edge}
spec: {controller: example.io/edge}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: edge-ingress-admission}
webhooks:
- name: validate.edge.example.io
  matchPolicy: Equivalent
  rules:
  - apiGroups: [networking.k8s.io]
    apiVersions: [v1]
    operations: [CREATE, UPDATE]
    resources: [ingresses]
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1]
  clientConfig:
    service: {namespace: edge, name: edge-ingress-controller-admission, path: /networking/v1/ingresses}
"#;

/// `kubectl apply -f` of a whole install: as on a real cluster, custom resources in the same
/// file as their CRD may need a second apply (kubectl maps every object before it applies any).
async fn apply_install(h: &Harness, file: &str, text: &str) {
    let path = h.write(file, text);
    let path = path.to_str().expect("utf-8");
    let (first, _, stderr) = h.run(&["apply", "-f", path]).await;
    if !first {
        assert!(
            stderr
                .lines()
                .all(|line| line.contains("resource mapping not found")
                    || line == "ensure CRDs are installed first"),
            "{file}: only custom resources may wait for their CRD:\n{stderr}"
        );
        h.ok(&["apply", "-f", path]).await;
    }
}

/// Pods of these namespaces that are not yet where they should be (Running and ready, or a
/// Job's pod Succeeded).
async fn unsettled_pods(h: &Harness, namespaces: &[&str]) -> Vec<String> {
    let out = h.ok(&["get", "pods", "-A", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&out).expect("pod list");
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|pod| namespaces.contains(&pod["metadata"]["namespace"].as_str().unwrap_or("")))
        .filter_map(|pod| {
            let phase = pod["status"]["phase"].as_str().unwrap_or("");
            let ready = pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let job = pod["metadata"]["labels"]["job-name"].is_string();
            let settled = if job {
                phase == "Succeeded"
            } else {
                phase == "Running" && ready
            };
            (!settled).then(|| {
                format!(
                    "{}/{} {phase} ready={ready}",
                    pod["metadata"]["namespace"].as_str().unwrap_or(""),
                    pod["metadata"]["name"].as_str().unwrap_or("")
                )
            })
        })
        .collect()
}

const NAMESPACES: [&str; 3] = ["gitops", "observability", "edge"];

#[tokio::test]
async fn popular_installs_apply_run_and_raise_no_alarm() {
    let Some(h) = Harness::start_cluster("installs").await else {
        return;
    };
    for (file, text) in [
        ("gitops.yaml", GITOPS),
        ("operated.yaml", OPERATED),
        ("ingress-controller.yaml", INGRESS_CONTROLLER),
    ] {
        apply_install(&h, file, text).await;
    }
    // Every object is there: a few of each kind, read back through kubectl.
    for (kind, namespace, name) in [
        ("application.gitops.example.io", "gitops", ""),
        ("appproject", "gitops", "default"),
        ("networkpolicy", "gitops", "gitops-redis-network-policy"),
        ("secret", "gitops", "gitops-redis"),
        ("metricserver", "observability", "main"),
        ("scrapetarget", "observability", "node-exporter"),
        ("pdb", "observability", "metricserver-main"),
        ("daemonset", "observability", "node-exporter"),
        ("job", "edge", "edge-ingress-admission-create"),
        ("rolebinding", "edge", "edge-ingress-admission"),
    ] {
        if name.is_empty() {
            h.ok(&["get", kind, "-n", namespace]).await;
        } else {
            h.ok(&["get", kind, name, "-n", namespace]).await;
        }
    }
    for (kind, name) in [
        ("apiservice", "v1beta1.custom.metrics.example.io"),
        ("ingressclass", "edge"),
        ("validatingwebhookconfiguration", "edge-ingress-admission"),
        ("clusterrolebinding", "gitops-application-controller"),
        ("crd", "scrapetargets.monitoring.example.io"),
    ] {
        h.ok(&["get", kind, name]).await;
    }

    within_for(
        Duration::from_secs(90),
        "every install's pods to settle",
        async {
            loop {
                h.sandbox.settled().await;
                let pending = unsettled_pods(&h, &NAMESPACES).await;
                if pending.is_empty() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        },
    )
    .await;

    let document = chain_json(&h).await;
    let mut alarms = Vec::new();
    let mut seen = 0;
    for service in document["services"].as_array().into_iter().flatten() {
        if !NAMESPACES.contains(&service["namespace"].as_str().unwrap_or("")) {
            continue;
        }
        seen += 1;
        for diagnostic in service["diagnostics"].as_array().into_iter().flatten() {
            if diagnostic["severity"] != "info" {
                alarms.push(format!(
                    "{}/{}: {} {} {}",
                    service["namespace"].as_str().unwrap_or(""),
                    service["name"].as_str().unwrap_or(""),
                    diagnostic["severity"],
                    diagnostic["code"],
                    diagnostic["message"]
                ));
            }
        }
    }
    assert_eq!(seen, 12, "the installs' Services are listed");
    assert!(alarms.is_empty(), "false alarms:\n{}", alarms.join("\n"));

    // Every hop of every Service answers as predicted when probed for real.
    let mut surprises = Vec::new();
    for service in document["services"].as_array().into_iter().flatten() {
        let namespace = service["namespace"].as_str().unwrap_or("");
        if !NAMESPACES.contains(&namespace) {
            continue;
        }
        let target = format!("{namespace}/{}", service["name"].as_str().unwrap_or(""));
        let probe = tokio::process::Command::new(KUBEHOP)
            .args(["probe", &target, "-o", "json"])
            .env("KUBECONFIG", h.sandbox.kubeconfig_path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .await
            .expect("kubehop runs");
        let report: Value = serde_json::from_slice(&probe.stdout).unwrap_or_else(|e| {
            panic!("{target}: {e}: {}", String::from_utf8_lossy(&probe.stderr))
        });
        if report["summary"]["unexpected"] != 0 {
            surprises.push(format!("{target}: {report:#}"));
        }
    }
    assert!(
        surprises.is_empty(),
        "unexpected probe results:\n{}",
        surprises.join("\n")
    );
}
