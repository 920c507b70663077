//! End to end: the wasmtime flavour under the real `wasmtime serve` binary,
//! against the simulator on loopback.

mod common;

use common::serve::*;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn wasmtime_serve_reads_products_through_the_simulator() {
    let sim = start_sim().await;
    let served = serve(&sim, "reads", &[]).await;
    let client = reqwest::Client::new();
    let mut captured = Vec::new();

    // No key: 401 and nothing upstream.
    let r = client
        .get(format!("{}/v1/products/SKU-0001", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert!(r.headers().contains_key("x-request-id"));
    let head = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    assert!(body.contains(r#""code":"unauthorized""#));
    captured.push(format!("{head} {body}"));
    assert_eq!(sim.counters().accs_requests, 0);
    assert_eq!(sim.counters().token_requests, 0);

    // Twenty reads, one of them an odd SKU, all with one token.
    for i in 0..20 {
        let sku_path = if i == 7 {
            "a%2Fb%20c".to_owned()
        } else {
            format!("SKU-{:04}", i + 1)
        };
        let r = client
            .get(format!("{}/v1/products/{sku_path}", served.base))
            .bearer_auth(API_KEY)
            .header("x-request-id", format!("e2e-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], format!("e2e-{i}").as_str());
        let head = format!("{:?}", r.headers());
        let body = r.text().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let want = if i == 7 {
            "a/b c".to_owned()
        } else {
            format!("SKU-{:04}", i + 1)
        };
        assert_eq!(v["sku"], want.as_str());
        captured.push(format!("{head} {body}"));
    }
    // One IMS call per instance, never two from one: without a token file each
    // instance asks IMS once, and `wasmtime serve` starts another instance when
    // a request arrives before the last one's instance is free again, which a
    // sequential client can do on a loaded machine (seen in CI: 2 instances).
    let log = served.log();
    let mut ims_by_instance = Vec::new();
    for line in log
        .lines()
        .filter(|l| l.contains(r#""token_source":"ims""#))
    {
        let (prefix, _) = line.rsplit_once(" :: ").expect("wasmtime's stderr prefix");
        let instance = prefix.rsplit("stderr [").next().unwrap_or_default();
        ims_by_instance.push(instance.trim_end_matches(']').to_owned());
    }
    let calls = usize::try_from(sim.counters().token_requests).unwrap();
    assert!(calls >= 1, "the first read asks IMS");
    assert_eq!(
        calls,
        ims_by_instance.len(),
        "IMS calls and `ims` log lines\n{log}"
    );
    let instances: std::collections::BTreeSet<&String> = ims_by_instance.iter().collect();
    assert_eq!(
        instances.len(),
        calls,
        "an instance asked IMS more than once for 20 reads\n{log}"
    );

    let odd = sim
        .requests()
        .into_iter()
        .find(|r| r.raw_path.ends_with("a%2Fb%20c"))
        .expect("the odd SKU reached ACCS");
    assert_eq!(odd.raw_path, format!("/{TENANT}/V1/products/a%2Fb%20c"));
    assert_eq!(odd.headers["x-api-key"], CLIENT_ID);
    assert_eq!(odd.headers["store"], "default");
    assert_eq!(odd.headers["x-gw-ims-org-id"], "ORG123@AdobeOrg");
    assert_eq!(odd.headers["x-request-id"], "e2e-7");

    // A search, with Magento syntax passed through.
    let r = client
        .get(format!(
            "{}/v1/products?searchCriteria[filter_groups][0][filters][0][field]=sku&searchCriteria[filter_groups][0][filters][0][value]=SKU-000%25&searchCriteria[filter_groups][0][filters][0][condition_type]=like&page_size=5",
            served.base
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let head = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total_count"], 9);
    assert_eq!(v["items"].as_array().unwrap().len(), 5);
    captured.push(format!("{head} {body}"));

    // 400 reads at concurrency 16: every one answered, every log line whole.
    let base = served.base.clone();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let r = client
                    .get(format!(
                        "{base}/v1/products/SKU-{:04}",
                        (worker * 25 + i) % 50 + 1
                    ))
                    .bearer_auth(API_KEY)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                assert!(r.headers().contains_key("content-length"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // The log: one JSON line per request, none with a secret.
    let log = served.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(r#""route":"#)).collect();
    assert!(lines.len() >= 422, "{} request lines", lines.len());
    for line in &lines {
        // wasmtime serve prefixes each write with `stderr [instance] :: `, and
        // writes that prefix apart from the text, so under load two prefixes
        // can share a line; what matters here is that our JSON is whole.
        let json = line.rsplit_once(" :: ").map_or(*line, |(_, j)| j);
        let v: serde_json::Value = serde_json::from_str(json)
            .unwrap_or_else(|_| panic!("a torn or interleaved log line: {line}"));
        assert!(
            v["request_id"].is_string() && v["status"].is_u64(),
            "{line}"
        );
    }
    captured.push(log.clone());
    assert_no_secrets(&sim, &captured);
}
