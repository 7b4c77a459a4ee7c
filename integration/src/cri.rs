//! A blocking client for containerd's CRI plugin (Kubernetes' RuntimeService, CRI v1): the calls
//! a kubelet makes to run a pod on a RuntimeClass handler, without a kubelet or crictl (neither
//! is packaged for Debian 12).

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{self as cri, ContainerState};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// A connection to one containerd's CRI service.
pub struct Cri {
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
}

/// What `exec_sync` returned.
#[derive(Debug)]
pub struct ExecResult {
    /// The command's stdout.
    pub stdout: String,
    /// The command's stderr.
    pub stderr: String,
    /// Its exit code.
    pub exit_code: i32,
}

impl Cri {
    /// Connects to the gRPC socket `sock` (containerd serves CRI on its main socket).
    pub fn connect(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sock: PathBuf = sock.to_owned();
        let channel = rt
            .block_on(
                Endpoint::try_from("http://[::]:50051")
                    .unwrap()
                    // A call that never returns fails the test instead of hanging CI.
                    .timeout(Duration::from_secs(120))
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let sock = sock.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(sock).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                        }
                    })),
            )
            .expect("connect to containerd's CRI socket");
        Cri {
            rt,
            client: RuntimeServiceClient::new(channel),
        }
    }

    /// The runtime's name and version as CRI reports them.
    pub fn version(&mut self) -> Result<cri::VersionResponse, tonic::Status> {
        let req = cri::VersionRequest {
            version: "v1".into(),
        };
        self.rt
            .block_on(self.client.version(req))
            .map(|r| r.into_inner())
    }

    /// RunPodSandbox on runtime handler `handler`; the pod id.
    pub fn run_pod(
        &mut self,
        config: &cri::PodSandboxConfig,
        handler: &str,
    ) -> Result<String, tonic::Status> {
        let req = cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        };
        self.rt
            .block_on(self.client.run_pod_sandbox(req))
            .map(|r| r.into_inner().pod_sandbox_id)
    }

    /// CreateContainer in pod `pod`; the container id.
    pub fn create_container(
        &mut self,
        pod: &str,
        config: cri::ContainerConfig,
        pod_config: &cri::PodSandboxConfig,
    ) -> Result<String, tonic::Status> {
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(pod_config.clone()),
        };
        self.rt
            .block_on(self.client.create_container(req))
            .map(|r| r.into_inner().container_id)
    }

    /// StartContainer.
    pub fn start_container(&mut self, id: &str) -> Result<(), tonic::Status> {
        let req = cri::StartContainerRequest {
            container_id: id.into(),
        };
        self.rt
            .block_on(self.client.start_container(req))
            .map(|_| ())
    }

    /// ContainerStatus (non-verbose).
    pub fn container_status(&mut self, id: &str) -> Result<cri::ContainerStatus, tonic::Status> {
        let req = cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        let resp = self
            .rt
            .block_on(self.client.container_status(req))?
            .into_inner();
        resp.status
            .ok_or_else(|| tonic::Status::internal("ContainerStatus without a status"))
    }

    /// Polls ContainerStatus until the container has exited (bounded by `within`).
    pub fn wait_exited(&mut self, id: &str, within: Duration) -> cri::ContainerStatus {
        crate::poll(&format!("container {id} to exit"), within, || {
            let st = self.container_status(id).expect("ContainerStatus");
            (st.state == ContainerState::ContainerExited as i32).then_some(st)
        })
    }

    /// ExecSync: runs `cmd` in container `id` and collects its output.
    pub fn exec_sync(&mut self, id: &str, cmd: &[&str]) -> Result<ExecResult, tonic::Status> {
        self.exec_sync_within(id, cmd, 30)
    }

    /// ExecSync with a timeout in seconds (a kubelet's exec probe).
    pub fn exec_sync_within(
        &mut self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> Result<ExecResult, tonic::Status> {
        let req = cri::ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        let r = self.rt.block_on(self.client.exec_sync(req))?.into_inner();
        Ok(ExecResult {
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
            exit_code: r.exit_code,
        })
    }

    /// UpdateContainerResources (Linux resources).
    pub fn update_resources(
        &mut self,
        id: &str,
        linux: cri::LinuxContainerResources,
    ) -> Result<(), tonic::Status> {
        let req = cri::UpdateContainerResourcesRequest {
            container_id: id.into(),
            linux: Some(linux),
            ..Default::default()
        };
        self.rt
            .block_on(self.client.update_container_resources(req))
            .map(|_| ())
    }

    /// ContainerStats: what a kubelet polls for every container.
    pub fn stats(&mut self, id: &str) -> Result<cri::ContainerStats, tonic::Status> {
        let req = cri::ContainerStatsRequest {
            container_id: id.into(),
        };
        let resp = self
            .rt
            .block_on(self.client.container_stats(req))?
            .into_inner();
        resp.stats
            .ok_or_else(|| tonic::Status::internal("ContainerStats without stats"))
    }

    /// StopContainer with a grace period in seconds.
    pub fn stop_container(&mut self, id: &str, timeout: i64) -> Result<(), tonic::Status> {
        let req = cri::StopContainerRequest {
            container_id: id.into(),
            timeout,
        };
        self.rt
            .block_on(self.client.stop_container(req))
            .map(|_| ())
    }

    /// RemoveContainer.
    pub fn remove_container(&mut self, id: &str) -> Result<(), tonic::Status> {
        let req = cri::RemoveContainerRequest {
            container_id: id.into(),
        };
        self.rt
            .block_on(self.client.remove_container(req))
            .map(|_| ())
    }

    /// StopPodSandbox then RemovePodSandbox.
    pub fn remove_pod(&mut self, pod: &str) -> Result<(), tonic::Status> {
        let stop = cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.into(),
        };
        self.rt.block_on(self.client.stop_pod_sandbox(stop))?;
        let rm = cri::RemovePodSandboxRequest {
            pod_sandbox_id: pod.into(),
        };
        self.rt
            .block_on(self.client.remove_pod_sandbox(rm))
            .map(|_| ())
    }

    /// The pod's IP as PodSandboxStatus reports it (empty for host-network pods).
    pub fn pod_ip(&mut self, pod: &str) -> Result<String, tonic::Status> {
        let req = cri::PodSandboxStatusRequest {
            pod_sandbox_id: pod.into(),
            verbose: false,
        };
        let r = self
            .rt
            .block_on(self.client.pod_sandbox_status(req))?
            .into_inner();
        Ok(r.status
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default())
    }

    /// Ids of the pods CRI knows.
    pub fn pod_ids(&mut self) -> Result<Vec<String>, tonic::Status> {
        let req = cri::ListPodSandboxRequest { filter: None };
        let r = self
            .rt
            .block_on(self.client.list_pod_sandbox(req))?
            .into_inner();
        Ok(r.items.into_iter().map(|p| p.id).collect())
    }
}

/// A pod in the host's network namespace (no CNI needed) logging under `log_dir`, its cgroups
/// under `cgroup_parent` (a kubelet's pod cgroup; empty: the runtime's default).
pub fn host_network_pod(name: &str, log_dir: &Path, cgroup_parent: &str) -> cri::PodSandboxConfig {
    pod(name, log_dir, cgroup_parent, cri::NamespaceMode::Node)
}

/// A pod whose network namespace is `network`: Node (the host's) or Pod (its own, set up by
/// CNI).
pub fn pod(
    name: &str,
    log_dir: &Path,
    cgroup_parent: &str,
    network: cri::NamespaceMode,
) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: network as i32,
                    pid: cri::NamespaceMode::Pod as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container running `command` from `image`, logging to `log_path` (relative to the pod's
/// log directory).
pub fn container(
    name: &str,
    image: &str,
    command: &[&str],
    log_path: &str,
) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..Default::default()
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: log_path.into(),
        ..Default::default()
    }
}
