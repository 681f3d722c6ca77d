//! Multipart uploads (#15): signing a batch of 1,000 part URLs (the signer alone, and the route
//! with its database lookups), a 1 GiB multipart upload through the release local media server
//! (its throughput beside a plain file copy on the same disk, and its peak RSS), and the
//! completion of a 1,000-part upload on the S3 server, with the server's own time taken out.

use std::time::Instant;

use anyhow::{bail, Context as _};
use files_core::keys::FileKey;
use files_core::services::{
    ConfirmUpload, ConfirmUploadRequest, InitiateUpload, InitiateUploadRequest, RequestedUploadMethod,
    SignPartsRequest, UploadParts,
};
use files_core::state::FromSettings as _;
use files_core::storage::multipart::{MultipartOp, UploadId};
use files_core::Settings;

use crate::functions::Fixture;
use crate::measure::Plan;
use crate::relay::DbRelay;
use crate::report::{Figure, Target, Unit};
use files_testkit::Backend;

const MIB: u64 = 1024 * 1024;
const SECTION: &str = "multipart uploads";

/// A multipart upload of `size` bytes in parts of 5 MiB, initiated for the fixture's caller.
async fn initiate(settings: &Settings, fixture: &Fixture, size: u64) -> anyhow::Result<(FileKey, UploadId, u32)> {
    let request = InitiateUploadRequest {
        filename: "bench.bin".to_owned(),
        content_type: "application/octet-stream".to_owned(),
        size: i64::try_from(size)?,
        checksum_sha256: None,
        owner: None,
        upload_method: Some(RequestedUploadMethod::Multipart),
        part_size: Some(i64::try_from(5 * MIB)?),
        checksum_crc64nvme: None,
    };
    let upload = InitiateUpload::from_settings(settings).await?.initiate_upload(fixture.caller(), request).await?;
    let answer = serde_json::to_value(&upload)?;
    let id = answer["upload_id"].as_str().context("an upload id")?;
    let count = answer["part_count"].as_u64().context("a part count")?;
    Ok((upload.file_key, UploadId::parse(id).map_err(|e| anyhow::anyhow!(e.0))?, u32::try_from(count)?))
}

/// Every figure of the part.
///
/// # Errors
/// When a server answers wrongly.
pub async fn figures(plan: &Plan, fixtures: &[Fixture], s3_endpoint: &str) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for fixture in fixtures {
        figures.extend(signing(plan, fixture).await?);
    }
    let local = fixtures.iter().find(|f| f.backend == Backend::Local).context("the local fixture")?;
    figures.extend(local_gib(plan, local).await?);
    let s3 = fixtures.iter().find(|f| f.backend == Backend::S3).context("the S3 fixture")?;
    figures.extend(thousand_parts(s3, s3_endpoint).await?);
    Ok(figures)
}

/// 1,000 part URLs signed in one call: by the signer alone, and by the route.
async fn signing(plan: &Plan, fixture: &Fixture) -> anyhow::Result<Vec<Figure>> {
    let size = 1_000 * 5 * MIB;
    let (settings, _) = crate::media::sized_settings(fixture, size, &[])?;
    let (key, upload_id, _) = initiate(&settings, fixture, size).await?;
    let signer = files_core::storage::build_signer(&settings.storage).await?;
    let parts = UploadParts::from_settings(&settings).await?;
    let ops: Vec<MultipartOp<'_>> =
        (1..=1_000).map(|number| MultipartOp::Part { upload_id: &upload_id, number, size: 5 * MIB }).collect();
    let ttl = std::time::Duration::from_secs(900);
    let (mut alone, mut route) = (Vec::new(), Vec::new());
    // Warm: the signing key is derived once a day, the statements prepared once a connection.
    signer.sign_multipart(&key, &ops, ttl).await?;
    for _ in 0..plan.runs.max(20) {
        let started = Instant::now();
        let (signed, _) = signer.sign_multipart(&key, &ops, ttl).await?;
        alone.push(started.elapsed().as_secs_f64() * 1e3);
        if signed.len() != 1_000 {
            bail!("signed {} URLs", signed.len());
        }
        let request =
            SignPartsRequest { file_key: key.to_string(), upload_id: upload_id.to_string(), part_numbers: None };
        let started = Instant::now();
        let answer = parts.sign_parts(fixture.caller(), request).await?;
        route.push(started.elapsed().as_secs_f64() * 1e3);
        if answer.parts.len() != 1_000 {
            bail!("the route signed {} URLs", answer.parts.len());
        }
    }
    let backend = crate::functions::label(fixture.backend);
    let target = || Some(Target::below(5.0, "#15"));
    Ok(vec![
        Figure::new(SECTION, format!("sign 1,000 part URLs, signer ({backend})"), Unit::Ms, alone, target()),
        Figure::new(SECTION, format!("sign 1,000 part URLs, upload-parts route ({backend})"), Unit::Ms, route, None),
    ])
}

/// A 1 GiB multipart upload through the release local media server, parts one after another
/// and the completion (the assembly) by the server, against a plain copy of a 1 GiB file on
/// the same disk.
async fn local_gib(plan: &Plan, fixture: &Fixture) -> anyhow::Result<Vec<Figure>> {
    let size = 1024 * MIB;
    let (mut rates, mut copies, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.stream_runs {
        let port = crate::media::free_port()?;
        let (settings, env) =
            crate::media::sized_settings(fixture, size, &[("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"))])?;
        let server = crate::media::start_server(plan, &env, port).await?;
        let (key, upload_id, count) = initiate(&settings, fixture, size).await?;
        let signer = files_core::storage::build_signer(&settings.storage).await?;
        let plan_of = files_core::storage::multipart::PartPlan::new(size, Some(5 * MIB)).map_err(anyhow::Error::msg)?;
        let ops: Vec<MultipartOp<'_>> = (1..=count)
            .map(|number| MultipartOp::Part {
                upload_id: &upload_id,
                number,
                size: plan_of.part_len(number).unwrap_or(0),
            })
            .chain([MultipartOp::Complete { upload_id: &upload_id }])
            .collect();
        let ttl = std::time::Duration::from_secs(3600);
        let (signed, _) = signer.sign_multipart(&key, &ops, ttl).await?;
        let http = reqwest::Client::new();
        let started = Instant::now();
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (number, part) in (1..=count).zip(&signed) {
            let len = plan_of.part_len(number).unwrap_or(0);
            let answer = http
                .put(&part.url)
                .header("content-length", len)
                .body(reqwest::Body::wrap_stream(crate::stream::generated_body(len)))
                .send()
                .await?
                .error_for_status()?;
            let etag = answer.headers().get("etag").context("an ETag")?.to_str()?.to_owned();
            xml.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let complete = signed.last().context("the completion")?;
        http.post(&complete.url).body(xml).send().await?.error_for_status()?;
        rates.push(size as f64 / 1e6 / started.elapsed().as_secs_f64());
        peaks.push(server.peak_rss_mib()?);
        drop(server);
        // The file is then confirmed as any upload (and goes, for the next run).
        let confirm = ConfirmUpload::from_settings(&settings).await?;
        confirm
            .confirm_upload(fixture.caller(), ConfirmUploadRequest { file_key: key.to_string(), parts: None })
            .await?;
        let objects = files_core::storage::build_objects(&settings.storage).await?;
        copies.push(file_copy(&settings, &objects, &key, size).await?);
        objects.delete_file(&key).await?;
    }
    Ok(vec![
        Figure::new(SECTION, "1 GiB multipart through the local media server", Unit::MBps, rates, None),
        Figure::new(SECTION, "1 GiB plain file copy, same disk", Unit::MBps, copies, None),
        Figure::new(
            SECTION,
            "peak RSS, 1 GiB multipart",
            Unit::MiB,
            peaks,
            Some(Target::below(64e6 / 1048576.0, "#15")),
        ),
    ])
}

/// MB/s of a plain copy of the stored object to a file beside it.
async fn file_copy(
    settings: &Settings,
    _objects: &std::sync::Arc<dyn files_core::storage::ObjectStore>,
    key: &FileKey,
    size: u64,
) -> anyhow::Result<f64> {
    let root = match &settings.storage {
        files_core::config::StorageSettings::Local(local) => local.media_root.clone(),
        files_core::config::StorageSettings::S3(_) => bail!("a copy on the local disk only"),
    };
    let copy = root.join(".tmp").join("bench-copy");
    let started = Instant::now();
    tokio::fs::copy(root.join(key.as_str()), &copy).await?;
    // The copy is on disk, as the upload's bytes are before they are answered.
    tokio::fs::File::open(&copy).await?.sync_all().await?;
    let seconds = started.elapsed().as_secs_f64();
    tokio::fs::remove_file(&copy).await?;
    Ok(size as f64 / 1e6 / seconds)
}

/// A 1,000-part upload on the S3 server (parts copied server-side from one 5 MiB object), then
/// confirm-upload's completion and verification, through a relay that times the server.
async fn thousand_parts(fixture: &Fixture, s3_endpoint: &str) -> anyhow::Result<Vec<Figure>> {
    let size = 1_000 * 5 * MIB;
    let relay = DbRelay::start(files_testkit::host_port(s3_endpoint)).await?;
    let through = format!("http://{}", relay.addr());
    let (settings, _) = crate::media::sized_settings(fixture, size, &[("AWS_S3_ENDPOINT_URL", through)])?;
    let (key, upload_id, count) = initiate(&settings, fixture, size).await?;
    let s3 = files_core::storage::s3::S3ObjectStore::new(settings.storage.s3().context("S3 settings")?).await?;
    let source = format!("{}/bench-part-source", s3.bucket());
    s3.client()
        .put_object()
        .bucket(s3.bucket())
        .key("bench-part-source")
        .body(vec![7u8; (5 * MIB) as usize].into())
        .send()
        .await?;
    let client = s3.client().clone();
    let bucket = s3.bucket().to_owned();
    futures_util::future::try_join_all((1..=count).map(|number| {
        let (client, bucket, source, key, id) =
            (client.clone(), bucket.clone(), source.clone(), key.clone(), upload_id.clone());
        async move {
            client
                .upload_part_copy()
                .bucket(bucket)
                .key(key.as_str())
                .upload_id(id.as_str())
                .part_number(i32::try_from(number).unwrap_or(i32::MAX))
                .copy_source(source)
                .send()
                .await
        }
    }))
    .await?;
    let confirm = ConfirmUpload::from_settings(&settings).await?;
    let before = relay.busy();
    let started = Instant::now();
    let view = confirm
        .confirm_upload(fixture.caller(), ConfirmUploadRequest { file_key: key.to_string(), parts: None })
        .await?;
    let total = started.elapsed();
    let server = relay.busy() - before;
    if view.file.status != files_core::file::FileStatus::Available {
        bail!("the 1,000-part upload was not confirmed");
    }
    files_core::storage::build_objects(&settings.storage).await?.delete_file(&key).await?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    Ok(vec![
        Figure::new(
            SECTION,
            "complete 1,000 parts on the S3 server, confirm-upload in all",
            Unit::Ms,
            vec![ms(total)],
            None,
        ),
        Figure::new(SECTION, "complete 1,000 parts, the S3 server's own time", Unit::Ms, vec![ms(server)], None),
        Figure::new(
            SECTION,
            "complete 1,000 parts, confirm-upload's own time",
            Unit::Ms,
            vec![ms(total.saturating_sub(server))],
            None,
        ),
    ])
}
