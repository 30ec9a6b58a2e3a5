//! Sentinel: the test harness (primary, replica, three sentinels) and the crate's
//! resolver against it: finding the primary, following a failover, and the errors a
//! person sees for a wrong master name, dead sentinels or a dead primary.

use crate::common;

use std::time::{Duration, Instant};

use common::sentinel::SentinelSetup;
use common::{info_field, query_text};
use redtail::redis::conn::Target;
use redtail::redis::sentinel::{resolve_master, SentinelSpec};

fn spec(setup: &SentinelSetup, master: &str) -> SentinelSpec {
    SentinelSpec::parse(&[setup.sentinel_addrs().join(",")], master).expect("valid addresses")
}

fn role(port: u16) -> Option<String> {
    let info = query_text(port, &["INFO", "replication"])?;
    info_field(&info, "role").map(str::to_string)
}

async fn resolve(spec: &SentinelSpec) -> anyhow::Result<Target> {
    resolve_master(spec, &Target::default()).await
}

#[test]
fn setup_comes_up_with_the_first_node_as_primary() {
    let setup = SentinelSetup::shared();
    let [primary, replica] = setup.data_ports();
    assert_eq!(setup.master_name(), "mymaster");
    assert_eq!(setup.sentinel_addrs().len(), 3);
    assert_eq!(setup.primary_port(), primary);
    assert_eq!(role(primary).as_deref(), Some("master"));
    assert_eq!(role(replica).as_deref(), Some("slave"));
}

#[test]
fn forced_failover_switches_the_primary() {
    let started = Instant::now();
    let setup = SentinelSetup::start();
    eprintln!("sentinel setup started in {:?}", started.elapsed());
    let [first, second] = setup.data_ports();
    let switched = Instant::now();
    let new = setup.failover();
    eprintln!("sentinel failover took {:?}", switched.elapsed());
    assert_eq!(new, second);
    assert_eq!(setup.primary_port(), second);
    assert_eq!(role(second).as_deref(), Some("master"));
    // Not waited for: the sentinels turn the old primary into a replica only when their
    // next INFO (every 10 s) shows it still claiming to be a primary.
    let _ = first;
}

#[tokio::test]
async fn resolves_the_primary_with_the_template_settings() {
    let setup = SentinelSetup::shared();
    let template = Target {
        db: 3,
        ..Target::default()
    };
    let target = resolve_master(&spec(setup, "mymaster"), &template)
        .await
        .expect("resolves");
    assert_eq!(target.host, "127.0.0.1");
    assert_eq!(target.port, setup.primary_port());
    assert_eq!(target.db, 3);
}

#[tokio::test]
async fn skips_a_dead_sentinel() {
    let setup = SentinelSetup::shared();
    let dead = format!("127.0.0.1:{}", common::free_port());
    let mut args = vec![dead];
    args.extend(setup.sentinel_addrs());
    let spec = SentinelSpec::parse(&args, "mymaster").expect("valid addresses");
    let target = resolve(&spec)
        .await
        .expect("resolves through the live sentinels");
    assert_eq!(target.port, setup.primary_port());
}

#[tokio::test]
async fn follows_a_failover() {
    let setup = SentinelSetup::start();
    let spec = spec(&setup, "mymaster");
    let before = resolve(&spec).await.expect("resolves");
    assert_eq!(before.port, setup.data_ports()[0]);
    let new = tokio::task::spawn_blocking(move || {
        let new = setup.failover();
        (setup, new)
    })
    .await
    .expect("failover");
    let after = resolve(&spec).await.expect("resolves after failover");
    assert_eq!(after.port, new.1);
    assert_ne!(after.port, before.port);
}

#[tokio::test]
async fn unknown_master_name_is_explained() {
    let setup = SentinelSetup::shared();
    let err = resolve(&spec(setup, "nosuch"))
        .await
        .unwrap_err()
        .to_string();
    eprintln!("unknown master: {err}");
    let first = &setup.sentinel_addrs()[0];
    assert!(
        err.contains(&format!(
            "sentinel {first} does not know a master called \"nosuch\""
        )) && err.contains("check --master"),
        "{err}"
    );
}

#[tokio::test]
async fn a_data_node_given_as_sentinel_is_explained() {
    let setup = SentinelSetup::shared();
    let not_a_sentinel = format!("127.0.0.1:{}", setup.data_ports()[1]);
    let spec = SentinelSpec::parse(std::slice::from_ref(&not_a_sentinel), "mymaster").unwrap();
    let err = resolve(&spec).await.unwrap_err().to_string();
    eprintln!("not a sentinel: {err}");
    assert!(
        err.contains(&format!("{not_a_sentinel} is not a sentinel")),
        "{err}"
    );
}

#[tokio::test]
async fn dead_primary_then_dead_sentinels_are_explained() {
    let setup = SentinelSetup::start();
    let spec = spec(&setup, "mymaster");
    let primary = setup.primary_port();
    // Sentinels still name the primary right after it dies (down-after is 1 s, and the
    // replica may then be promoted): either way the error must say what happened.
    setup.kill_data_nodes();
    let started = Instant::now();
    let err = resolve(&spec).await.unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("says the primary of \"mymaster\" is 127.0.0.1:")
            && err.contains("cannot be reached"),
        "{err}"
    );
    assert!(err.contains(&format!("127.0.0.1:{primary}")), "{err}");
    eprintln!("dead primary: {err}");

    setup.kill_sentinels();
    let err = resolve(&spec).await.unwrap_err().to_string();
    eprintln!("dead sentinels: {err}");
    assert!(err.starts_with("cannot reach any sentinel: "), "{err}");
    for addr in setup.sentinel_addrs() {
        assert!(err.contains(&addr), "{addr} missing: {err}");
    }
}
