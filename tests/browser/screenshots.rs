//! Writes the screenshots under docs/ from the demo city:
//! `cargo test --test browser screenshots -- --ignored`.

use canvass::auth::Role;

use crate::chromium::Browser;
use crate::server::Demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/dashboard-*.png; run by hand after changing the pages"]
async fn screenshots() {
    let browser = Browser::start().await.expect("chromium and chromedriver");
    let demo = Demo::start().await;
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let pages = [
        ("overview", "/campaigns/demo-r2".to_owned(), "svg.bars"),
        (
            "rankings",
            "/campaigns/demo-r2/rankings".to_owned(),
            "#rankings",
        ),
        (
            "unit",
            "/campaigns/demo-r2/units/demo-dongshan".to_owned(),
            "svg.history",
        ),
    ];
    let mut signed_in = false;
    for (name, path, ready) in pages {
        browser.client.goto(&demo.url(&path)).await.unwrap();
        if !signed_in {
            browser.sign_in(&demo.token(Role::Analyst)).await;
            signed_in = true;
        }
        browser
            .wait_for(name, &format!("return document.querySelector('{ready}')"))
            .await;
        let height = browser
            .wait_for(
                "the page's height",
                "return document.documentElement.scrollHeight",
            )
            .await
            .as_u64()
            .unwrap();
        browser
            .client
            .set_window_size(1280, height.clamp(600, 4000) as u32 + 20)
            .await
            .unwrap();
        let png = browser.client.screenshot().await.unwrap();
        std::fs::write(docs.join(format!("dashboard-{name}.png")), png).unwrap();
    }
    browser.close().await;
    demo.stop().await;
}
