//! deploy/ kept true to the server: what would break a deployment in practice, checked by
//! reading the files (no image can be built here, no cluster runs): probe paths are routes,
//! ports agree, every variable names a configuration key, the ConfigMap and the production
//! example pass the production check, compose nodes share what must be shared, the mounted
//! files are where the configuration looks, and the Dockerfile builds as `.ci/run` does.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_norway::Value;
use xacthuc::config::{Config, Mode, StoreBackend};
use xacthuc::store::schema::MigrateMode;

use crate::helpers::*;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every YAML document of a file.
fn documents(path: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(&read(path))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn k8s(kind: &str) -> Value {
    let files = std::fs::read_dir(repo("deploy/k8s")).unwrap();
    let mut found: Vec<Value> = files
        .map(|f| f.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .flat_map(|name| documents(&format!("deploy/k8s/{name}")))
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in deploy/k8s");
    found.remove(0)
}

fn deployment() -> Value {
    k8s("Deployment")
}

fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

fn compose() -> Value {
    documents("deploy/compose.yaml").remove(0)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

/// A Kubernetes container's environment: secrets filled with a stand-in of their kind.
fn k8s_env(container: &Value) -> HashMap<String, String> {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            let name = text(&e["name"]);
            let value = match &e["value"] {
                Value::Null => secret_stand_in(&name),
                v => text(v),
            };
            (name, value)
        })
        .collect()
}

fn secret_stand_in(name: &str) -> String {
    match name {
        "DATABASE_URL" => "postgres://xacthuc:secret@xacthuc-pg-rw:5432/xacthuc".into(),
        "REDIS_URL" => "redis://:secret@xacthuc-redis:6379".into(),
        _ => "secret".into(),
    }
}

fn compose_env(service: &Value) -> HashMap<String, String> {
    service["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (text(k), text(v)))
        .collect()
}

/// `Config::load` with `env` (and `toml` as the file, if given), as a node would load it.
fn load(toml: Option<&str>, env: HashMap<String, String>) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let file = toml.map(|t| {
        let path = dir.path().join("config.toml");
        std::fs::write(&path, t).unwrap();
        path
    });
    // Variables the server reads that are not configuration keys.
    let env = env
        .into_iter()
        .filter(|(k, _)| k != "XACTHUC_CONFIG" && k != "XACTHUC_LOG")
        .inspect(|(k, _)| {
            assert!(
                k.starts_with("XACTHUC__") || k == "DATABASE_URL" || k == "REDIS_URL",
                "{k} is read by nothing"
            )
        })
        .collect();
    Config::load_with_env(file.as_deref(), Some(env)).unwrap_or_else(|e| panic!("{e}"))
}

/// The ConfigMap's file as the Deployment mounts it, and the path the pods are told to read.
fn configmap_file() -> (String, String) {
    let cm = k8s("ConfigMap");
    let d = deployment();
    let env = k8s_env(container(&d));
    let path = env["XACTHUC_CONFIG"].clone();
    let (dir, file) = path.rsplit_once('/').unwrap();
    let mount = mount_of(&d, dir);
    let v = volume(&d, &mount);
    assert_eq!(
        v["configMap"]["name"], cm["metadata"]["name"],
        "{path} is not the ConfigMap"
    );
    (text(&cm["data"][file]), path)
}

/// The volume mounted at `dir` in the Deployment's container.
fn mount_of(workload: &Value, dir: &str) -> String {
    let mounts = container(workload)["volumeMounts"].as_sequence().unwrap();
    let m = mounts
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
    text(&m["name"])
}

fn volume<'a>(workload: &'a Value, name: &str) -> &'a Value {
    workload["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// The Dockerfile's instructions `word` (`RUN`, `ENV`, `EXPOSE`, …), continuation lines joined.
fn dockerfile(word: &str) -> Vec<String> {
    let joined = read("deploy/Dockerfile").replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{word} ")))
        .map(|l| l.trim().to_string())
        .collect()
}

fn dockerfile_env() -> HashMap<String, String> {
    dockerfile("ENV")
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[tokio::test]
async fn every_probe_and_healthcheck_asks_a_route_that_answers_200() {
    let t = spawn_app().await;
    let c = container(&deployment()).clone();
    let mut paths: Vec<String> = ["livenessProbe", "readinessProbe", "startupProbe"]
        .iter()
        .map(|p| text(&c[*p]["httpGet"]["path"]))
        .collect();
    let healthcheck = dockerfile("HEALTHCHECK").join(" ");
    paths.push(
        healthcheck
            .split("GET ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("the HEALTHCHECK sends a GET")
            .to_string(),
    );
    for path in &paths {
        let resp = http().get(t.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    // Liveness must not depend on the database (an outage would restart every pod at once).
    assert_eq!(text(&c["livenessProbe"]["httpGet"]["path"]), "/healthz");
    assert_eq!(text(&c["readinessProbe"]["httpGet"]["path"]), "/readyz");
}

#[test]
fn the_port_is_the_same_everywhere() {
    let port = port_of(&dockerfile_env()["XACTHUC__SERVER__BIND"]);
    assert_eq!(dockerfile("EXPOSE"), [port.to_string()]);
    assert!(
        dockerfile("HEALTHCHECK")[0].contains(&format!("/dev/tcp/127.0.0.1/{port} ")),
        "HEALTHCHECK port"
    );
    // compose: every node listens there, and nginx sends there.
    let compose = compose();
    for node in ["node1", "node2", "node3"] {
        let env = compose_env(&compose["services"][node]);
        assert_eq!(port_of(&env["XACTHUC__SERVER__BIND"]), port, "{node}");
    }
    let nginx = read("deploy/nginx.conf");
    let upstreams: Vec<&str> = nginx
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server node"))
        .collect();
    assert_eq!(upstreams.len(), 3);
    for u in upstreams {
        assert!(u.contains(&format!(":{port} ")), "nginx upstream {u}");
    }
    // Kubernetes: the ConfigMap's bind, the container port, the Service's target.
    let (file, _) = configmap_file();
    let cfg: Config = toml::from_str(&file).unwrap();
    assert_eq!(port_of(&cfg.server.bind), port);
    let d = deployment();
    let ports = container(&d)["ports"].as_sequence().unwrap();
    assert_eq!(ports[0]["containerPort"].as_u64(), Some(u64::from(port)));
    let target = k8s("Service")["spec"]["ports"][0]["targetPort"].clone();
    assert!(
        target == ports[0]["name"] || target.as_u64() == Some(u64::from(port)),
        "Service targetPort {target:?}"
    );
    let example: Config = toml::from_str(&read("config/production.example.toml")).unwrap();
    assert_eq!(port_of(&example.server.bind), port);
}

#[test]
fn the_configmap_with_its_secrets_passes_the_production_check() {
    let (file, _) = configmap_file();
    let cfg = load(Some(&file), k8s_env(container(&deployment())));
    assert_eq!(cfg.server.mode, Mode::Production);
    assert_eq!(cfg.store.backend, StoreBackend::Redis);
    assert_eq!(cfg.database.migrate, MigrateMode::Check);
    assert!(cfg.database.url.starts_with("postgres://"));
    // The key-encryption key is the mounted secret's file.
    let kek = cfg.keys.encryption_key_file.expect("a KEK file");
    let d = deployment();
    let dir = kek.parent().unwrap().to_str().unwrap();
    let v = volume(&d, &mount_of(&d, dir));
    let item = &v["secret"]["items"][0];
    assert_eq!(
        Path::new(dir).join(text(&item["path"])),
        kek,
        "the KEK file is not the secret's item"
    );
    // The trust anchors are files of the mounted anchors volume.
    for anchor in cfg
        .pki
        .public_anchors
        .iter()
        .chain(&cfg.pki.government_anchors)
    {
        mount_of(&d, anchor.parent().unwrap().to_str().unwrap());
    }
}

#[test]
fn the_production_example_passes_the_production_check_with_its_secrets_filled() {
    let env = [
        "DATABASE_URL",
        "REDIS_URL",
        "XACTHUC__CONNECTORS__MOBILE_SIGNATURE_AP_PASSWORD",
        "XACTHUC__CONNECTORS__REMOTE_SIGNATURE_CLIENT_SECRET",
    ]
    .map(|k| (k.to_string(), secret_stand_in(k)))
    .into();
    let cfg = load(Some(&read("config/production.example.toml")), env);
    assert_eq!(cfg.server.mode, Mode::Production);
    assert_eq!(cfg.store.backend, StoreBackend::Redis);
    // Without its secrets (no database), it says so rather than starting on the SQLite default.
    let example: Config = toml::from_str(&read("config/production.example.toml")).unwrap();
    assert!(example.database.url.is_empty());
}

#[test]
fn every_variable_of_the_deployment_names_a_configuration_key() {
    // `load` refuses an unknown key (deny_unknown_fields) and a variable nothing reads.
    load(None, dockerfile_env());
    let compose = compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if service["image"].as_str() == Some("xacthuc:0.1.0") && !service["environment"].is_null() {
            load(None, compose_env(service));
            println!("{} checked", text(name));
        }
    }
    for kind in ["Deployment", "Job"] {
        let w = k8s(kind);
        let env = k8s_env(container(&w));
        let file = env
            .get("XACTHUC_CONFIG")
            .map(|_| configmap_file().0)
            .unwrap_or_default();
        load((!file.is_empty()).then_some(file.as_str()), env);
    }
}

#[test]
fn the_compose_nodes_share_what_must_be_shared() {
    let compose = compose();
    let services = &compose["services"];
    let envs: Vec<_> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| compose_env(&services[*n]))
        .collect();
    for key in [
        "XACTHUC__SERVER__PUBLIC_URL",
        "DATABASE_URL",
        "REDIS_URL",
        "XACTHUC__KEYS__ENCRYPTION_KEY",
        "XACTHUC__STORE__KEY_PREFIX",
    ] {
        let values: Vec<_> = envs.iter().map(|e| e.get(key)).collect();
        assert!(values[0].is_some(), "{key} unset");
        assert!(values.iter().all(|v| *v == values[0]), "{key} differs");
    }
    for node in ["node1", "node2", "node3"] {
        assert_eq!(
            services[node]["depends_on"]["migrate"]["condition"],
            "service_completed_successfully"
        );
        let cfg = load(None, compose_env(&services[node]));
        assert_eq!(cfg.database.migrate, MigrateMode::Check, "{node}");
        assert_eq!(cfg.store.backend, StoreBackend::Redis, "{node}");
        // One SMS outbox for all: the standalone sandbox, not each node's own.
        assert!(
            cfg.connectors.sms_url.starts_with("http://sandbox:"),
            "{node}"
        );
    }
    let migrate = compose_env(&services["migrate"]);
    assert_eq!(migrate["DATABASE_URL"], envs[0]["DATABASE_URL"]);
    assert_eq!(services["migrate"]["command"][0], "migrate");
    assert_eq!(services["sandbox"]["command"][0], "sandbox");
}

#[test]
fn kubernetes_objects_select_and_reference_each_other() {
    let d = deployment();
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let selects = |selector: &Value| {
        selector
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[text(k).as_str()] == v)
    };
    assert!(selects(&d["spec"]["selector"]["matchLabels"]));
    assert!(selects(&k8s("Service")["spec"]["selector"]));
    assert!(selects(
        &k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    ));
    let hpa = k8s("HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], d["metadata"]["name"]);
    // Every secret key the pods read is in the example secrets.
    let secrets: BTreeMap<String, Value> = documents("deploy/k8s/secret.example.yaml")
        .into_iter()
        .map(|s| (text(&s["metadata"]["name"]), s["stringData"].clone()))
        .collect();
    for w in [&d, &k8s("Job")] {
        for e in container(w)["env"].as_sequence().unwrap() {
            let r = &e["valueFrom"]["secretKeyRef"];
            if !r.is_null() {
                let keys = &secrets[&text(&r["name"])];
                assert!(!keys[text(&r["key"]).as_str()].is_null(), "{r:?}");
            }
        }
    }
    // A read-only root: the server's working directory's data/ is a volume.
    let c = container(&d);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    let workdir = dockerfile("WORKDIR").pop().unwrap();
    mount_of(&d, &format!("{workdir}/data"));
    // The grace period covers preStop plus the 30 s a request may take.
    let grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    let pre_stop: u64 = text(&c["lifecycle"]["preStop"]["exec"]["command"][1])
        .parse()
        .unwrap();
    assert!(grace >= pre_stop + 30, "grace {grace}");
    // The migration Job runs this binary's `migrate`.
    assert_eq!(container(&k8s("Job"))["args"][0], "migrate");
    assert_eq!(container(&k8s("Job"))["image"], c["image"]);
}

#[test]
fn the_dockerfile_builds_with_the_command_ci_runs() {
    let ci = read(".ci/run");
    let builds: Vec<String> = dockerfile("RUN")
        .into_iter()
        .filter(|r| r.starts_with("cargo "))
        .collect();
    assert_eq!(builds, ["cargo build --release --locked"]);
    for b in builds {
        assert!(
            ci.lines().any(|l| l.trim() == b),
            "`{b}` is not a command of .ci/run"
        );
    }
    // It builds the repository's workspace and lock file.
    assert!(dockerfile("COPY").contains(&". .".to_string()));
}
