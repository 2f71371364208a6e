//! `timbral serve`: the bundle behind `timbral-server`, with MiniLM for
//! semantic search where the trainer has its content feature and the
//! bundle has content.

use anyhow::{Context, Result};

use crate::args::ServeArgs;

pub(crate) fn run(a: &ServeArgs) -> Result<()> {
    let bundle = std::fs::read(&a.bundle)
        .with_context(|| format!("{}: cannot read the bundle", a.bundle.display()))?;
    let embed = encoder(a, &bundle)?;
    let config = timbral_server::Config {
        bundle,
        redis: a.redis.clone(),
        prefix: a.prefix.clone(),
        addr: a.addr,
    };
    timbral_server::serve(config, embed, |addr| {
        eprintln!("listening on http://{addr}");
    })
}

#[cfg(feature = "content")]
fn encoder(a: &ServeArgs, bundle: &[u8]) -> Result<Option<timbral_server::Embed>> {
    use std::sync::{Arc, Mutex};
    use timbral_train::cli_content;
    let model = timbral_core::Model::from_bytes(bundle)
        .with_context(|| format!("{}: refused", a.bundle.display()))?;
    if model.content().is_none() {
        return Ok(None);
    }
    let dir = a
        .model_dir
        .clone()
        .unwrap_or_else(cli_content::default_model_dir);
    let encoder = match cli_content::load_encoder(&dir) {
        Ok(e) => e,
        // Without the model files the server still runs, searching by words.
        Err(e) if a.model_dir.is_none() => {
            tracing::warn!("semantic search off: {e:#}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    cli_content::check_encoder(&model, &encoder)?;
    let encoder = Mutex::new(encoder);
    Ok(Some(Arc::new(move |q: &str| {
        encoder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .embed(q)
            .map_err(|e| e.to_string())
    })))
}

#[cfg(not(feature = "content"))]
fn encoder(_: &ServeArgs, _: &[u8]) -> Result<Option<timbral_server::Embed>> {
    Ok(None)
}
