//! edge-host against the probe fixture (tests/fixtures/probe), in both flavours.

mod common;

use common::*;
use edge_host::{EdgeHost, Flavour, SharedKv};
use std::time::{Duration, Instant};

const BOTH: [Flavour; 2] = [Flavour::Spin, Flavour::Wasmtime];

#[tokio::test(flavor = "multi_thread")]
async fn healthz_both_flavours() -> anyhow::Result<()> {
    for flavour in BOTH {
        let resp = host(flavour).oneshot(get("/healthz")).await?;
        assert_eq!(resp.status(), 200, "{flavour:?}");
        assert_eq!(text(&resp), "ok", "{flavour:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn relative_uris_get_localhost() -> anyhow::Result<()> {
    let host = host(Flavour::Spin);
    let req = http::Request::get("/healthz").body(bytes::Bytes::new())?;
    let resp = host.oneshot(req).await?;
    assert_eq!((resp.status().as_u16(), text(&resp)), (200, "ok".into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn variable_read_both_flavours() -> anyhow::Result<()> {
    for flavour in BOTH {
        let host = EdgeHost::new(options(flavour).var("greeting", "hello edge"))?;
        let resp = host.oneshot(get("/var/greeting")).await?;
        assert_eq!(resp.status(), 200, "{flavour:?}");
        assert_eq!(text(&resp), "hello edge", "{flavour:?}");

        let resp = host.oneshot(get("/var/missing")).await?;
        assert_eq!(resp.status(), 404, "{flavour:?}: {}", text(&resp));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_variable_names_follow_spin_rules() -> anyhow::Result<()> {
    let err = EdgeHost::new(options(Flavour::Spin).var("UPSTREAM_URL", "x")).unwrap_err();
    assert!(
        format!("{err:#}").contains("invalid Spin variable name"),
        "{err:#}"
    );

    let host = host(Flavour::Spin);
    let resp = host.oneshot(get("/var/UPSTREAM_URL")).await?;
    assert_eq!(resp.status(), 500);
    assert!(text(&resp).contains("InvalidName"), "{}", text(&resp));

    // wasi:config has no such rule.
    let host = EdgeHost::new(options(Flavour::Wasmtime).var("UPSTREAM_URL", "x"))?;
    assert_eq!(text(&host.oneshot(get("/var/UPSTREAM_URL")).await?), "x");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_kv_set_then_get_on_another_instance() -> anyhow::Result<()> {
    let kv = SharedKv::default();
    kv.set("seeded", b"from the host".to_vec());
    let mut opts = options(Flavour::Spin);
    opts.kv = kv.clone();
    let host = EdgeHost::new(opts)?;

    let first = host.instance().await?;
    let resp = first.handle(put("/kv/token", "abc123")).await?;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    assert_eq!(kv.get("token").as_deref(), Some(&b"abc123"[..]));

    let second = host.instance().await?;
    let resp = second.handle(get("/kv/token")).await?;
    assert_eq!(
        (resp.status().as_u16(), text(&resp)),
        (200, "abc123".into())
    );
    let resp = second.handle(get("/kv/seeded")).await?;
    assert_eq!(text(&resp), "from the host");
    let resp = second.handle(get("/kv/absent")).await?;
    assert_eq!(resp.status(), 404);

    // get-keys returns a stream<string> + future<result>.
    let resp = host.oneshot(get("/kv-keys")).await?;
    assert_eq!(text(&resp), "seeded\ntoken");

    let resp = host
        .oneshot(http::Request::delete("http://localhost/kv/token").body(Default::default())?)
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(kv.keys(), vec!["seeded".to_string()]);

    assert_eq!(kv.sets(), 1);
    assert_eq!(kv.gets(), 3);
    assert_eq!(kv.deletes(), 1);
    assert!(host.kv().snapshot().contains_key("seeded"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_kv_only_default_store_opens() -> anyhow::Result<()> {
    let host = host(Flavour::Spin);
    let resp = host.oneshot(get("/kv-open/default")).await?;
    assert_eq!(
        (resp.status().as_u16(), text(&resp)),
        (200, "opened".into())
    );
    let resp = host.oneshot(get("/kv-open/other")).await?;
    assert_eq!(resp.status(), 500);
    assert!(text(&resp).contains("NoSuchStore"), "{}", text(&resp));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_set_failing_makes_kv_return_an_error() -> anyhow::Result<()> {
    let host = host(Flavour::Spin);
    let kv = host.kv();
    kv.set("k", b"v".to_vec());

    kv.set_failing(true);
    let resp = host.oneshot(get("/kv/k")).await?;
    assert_eq!(resp.status(), 500);
    assert!(text(&resp).contains("injected"), "{}", text(&resp));
    let resp = host.oneshot(put("/kv/k", "new")).await?;
    assert_eq!(resp.status(), 500);
    assert!(text(&resp).contains("injected"), "{}", text(&resp));
    assert_eq!(kv.get("k").as_deref(), Some(&b"v"[..]));

    kv.set_failing(false);
    let resp = host.oneshot(get("/kv/k")).await?;
    assert_eq!((resp.status().as_u16(), text(&resp)), (200, "v".into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_kv_seed_and_writes_within_an_instance() -> anyhow::Result<()> {
    let mut opts = options(Flavour::Wasmtime);
    opts.kv_seed.insert("seeded".into(), b"seed value".to_vec());
    let host = EdgeHost::new(opts)?;

    let inst = host.instance().await?;
    let resp = inst.handle(get("/kv/seeded")).await?;
    assert_eq!(
        (resp.status().as_u16(), text(&resp)),
        (200, "seed value".into())
    );
    let resp = inst.handle(put("/kv/written", "w")).await?;
    assert_eq!(resp.status(), 200, "{}", text(&resp));
    let resp = inst.handle(get("/kv/written")).await?;
    assert_eq!(text(&resp), "w");
    let resp = inst.handle(get("/kv-keys")).await?;
    assert_eq!(text(&resp), "seeded\nwritten");

    // wasmtime-wasi-keyvalue is per-instance in-memory data: a new instance starts from the seed.
    let resp = host.oneshot(get("/kv/written")).await?;
    assert_eq!(resp.status(), 404);
    let resp = inst
        .handle(http::Request::delete("http://localhost/kv/written").body(Default::default())?)
        .await?;
    assert_eq!(resp.status(), 200);

    // The guest's wasi:keyvalue calls count as the Spin flavour's do (the
    // listing not), and set_failing fails them.
    let kv = host.kv();
    assert_eq!((kv.gets(), kv.sets(), kv.deletes()), (3, 1, 1));
    kv.set_failing(true);
    let resp = inst.handle(get("/kv/seeded")).await?;
    assert_eq!(resp.status(), 500);
    assert!(text(&resp).contains("injected"), "{}", text(&resp));
    kv.set_failing(false);
    assert_eq!(text(&inst.handle(get("/kv/seeded")).await?), "seed value");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_memory_persists_across_handle_calls() -> anyhow::Result<()> {
    for flavour in BOTH {
        let host = host(flavour);
        let inst = host.instance().await?;
        for expected in 1..=3 {
            let resp = inst.handle(get("/count")).await?;
            assert_eq!(text(&resp), expected.to_string(), "{flavour:?}");
        }
        // A fresh instance starts again; the first is unaffected.
        assert_eq!(
            text(&host.oneshot(get("/count")).await?),
            "1",
            "{flavour:?}"
        );
        assert_eq!(text(&inst.handle(get("/count")).await?), "4", "{flavour:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn handle_concurrent_interleaves_requests() -> anyhow::Result<()> {
    for flavour in BOTH {
        let inst = host(flavour).instance().await?;
        // Warm up (first call pays for lazy initialisation in the guest).
        inst.handle(get("/healthz")).await?;

        // One sleep alone first: the floor this machine gives a 200 ms sleep.
        let start = Instant::now();
        inst.handle(get("/sleep/200")).await?;
        let one = start.elapsed();
        let reqs = (0..20).map(|_| get("/sleep/200")).collect();
        let start = Instant::now();
        let resps = inst.handle_concurrent(reqs).await?;
        let elapsed = start.elapsed();
        eprintln!("{flavour:?}: 20 concurrent 200 ms sleeps took {elapsed:?}");
        assert_eq!(resps.len(), 20);
        for resp in &resps {
            assert_eq!(text(resp), "slept 200", "{flavour:?}");
        }
        // Interleaved, 20 sleeps take about one; in turn they would take 20.
        // A ratio to this machine's own floor, not a wall-clock bound.
        assert!(
            elapsed < one * 10,
            "{flavour:?}: 20 x 200 ms took {elapsed:?}, one took {one:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(200),
            "{flavour:?}: {elapsed:?}"
        );

        // Responses come back in input order, and all ran on the one instance.
        let reqs = vec![get("/count"), get("/sleep/50"), get("/count")];
        let resps = inst.handle_concurrent(reqs).await?;
        let texts: Vec<String> = resps.iter().map(text).collect();
        assert_eq!(texts[1], "slept 50");
        let mut counts = [texts[0].clone(), texts[2].clone()];
        counts.sort();
        assert_eq!(counts, ["1".to_string(), "2".to_string()], "{flavour:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_get_to_loopback() -> anyhow::Result<()> {
    let server = TinyServer::start("hello from the sim").await;
    for flavour in BOTH {
        let url = server.url(&format!("/upstream/{flavour:?}"));
        let resp = host(flavour)
            .oneshot(get(&format!("/fetch?url={url}")))
            .await?;
        assert_eq!(resp.status(), 200, "{flavour:?}: {}", text(&resp));
        assert_eq!(text(&resp), "200\nhello from the sim", "{flavour:?}");
    }
    let seen = server.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].starts_with("GET /upstream/Spin HTTP/1.1"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].starts_with("GET /upstream/Wasmtime HTTP/1.1"),
        "{}",
        seen[1]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_capture_stdout_and_stderr() -> anyhow::Result<()> {
    for flavour in BOTH {
        let host = host(flavour);
        let resp = host.oneshot(get("/log?msg=marker-7f3a")).await?;
        assert_eq!(resp.status(), 200);
        let logs = host.logs();
        assert!(logs.contains("probe: GET /log\n"), "{flavour:?}: {logs}");
        assert!(
            logs.contains("probe stderr: marker-7f3a\n"),
            "{flavour:?}: {logs}"
        );
        assert!(
            logs.contains("probe stdout: marker-7f3a\n"),
            "{flavour:?}: {logs}"
        );
        host.clear_logs();
        assert_eq!(host.logs(), "");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_is_an_error() -> anyhow::Result<()> {
    for flavour in BOTH {
        let host = host(flavour);
        let err = host.oneshot(get("/trap")).await.unwrap_err();
        let msg = format!("{err:#}");
        eprintln!("{flavour:?}: trap reported as: {msg}");
        assert!(
            msg.contains("unreachable") || msg.contains("trap"),
            "{flavour:?}: {msg}"
        );
        assert!(
            host.logs().contains("probe asked to trap"),
            "{flavour:?}: {}",
            host.logs()
        );
        // The host is still fine for new instances.
        assert_eq!(host.oneshot(get("/healthz")).await?.status(), 200);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn preopened_cache_dir_is_read_write() -> anyhow::Result<()> {
    for flavour in BOTH {
        let dir = temp_dir("preopen");
        std::fs::write(dir.join("from-host.txt"), "host wrote this")?;
        let mut opts = options(flavour);
        opts.preopen_dir = Some(dir.clone());
        let host = EdgeHost::new(opts)?;

        let resp = host.oneshot(get("/file/from-host.txt")).await?;
        assert_eq!(text(&resp), "host wrote this", "{flavour:?}");
        let resp = host
            .oneshot(put("/file/from-guest.txt", "guest wrote this"))
            .await?;
        assert_eq!(resp.status(), 200, "{flavour:?}: {}", text(&resp));
        assert_eq!(
            std::fs::read_to_string(dir.join("from-guest.txt"))?,
            "guest wrote this"
        );
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_flavour_fails_to_link() {
    let wasm = probe_wasm(Flavour::Spin);
    let err = EdgeHost::new(edge_host::HostOptions::new(Flavour::Wasmtime, wasm)).unwrap_err();
    assert!(format!("{err:?}").contains("spin:"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn instance_is_usable_from_spawned_tasks() -> anyhow::Result<()> {
    let inst = host(Flavour::Spin).instance().await?;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let inst = inst.clone();
            tokio::spawn(async move { inst.handle(get("/count")).await })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(text(&task.await??));
    }
    counts.sort();
    assert_eq!(counts, ["1", "2", "3", "4"]);
    Ok(())
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EdgeHost>();
    assert_send_sync::<edge_host::EdgeInstance>();
    assert_send_sync::<SharedKv>();
}

#[test]
fn instance_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    async fn use_instance(inst: edge_host::EdgeInstance, host: EdgeHost) {
        let f = inst.handle(get("/healthz"));
        assert_send(&f);
        let g = inst.handle_concurrent(vec![get("/healthz")]);
        assert_send(&g);
        let h = host.oneshot(get("/healthz"));
        assert_send(&h);
        let i = host.instance();
        assert_send(&i);
        let _ = (f, g, h, i);
    }
    let _ = use_instance;
}
