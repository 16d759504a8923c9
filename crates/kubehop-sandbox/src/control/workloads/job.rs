//! The Job controller: runs up to `parallelism` pods at a time until `completions` of them
//! have succeeded (without `completions`, until one has), then marks the Job
//! SuccessCriteriaMet and Complete. Sandbox pods run no processes: the kubelet completes a
//! Job's pod (exit code 0) once it has run for the readiness delay, so a Job finishes the
//! way a quick batch command does. A suspended Job creates nothing.

use super::replicaset::is_active;
use super::*;
use crate::control::events::{Event, component};

/// A Job's pods counted: (active, succeeded, failed, ready).
struct Counts {
    active: i64,
    succeeded: i64,
    failed: i64,
    ready: i64,
}

fn count_pods(c: &Controller, job: &Value, key: &Key) -> Counts {
    let selector = job.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    let (pods, _) = c.store.list_objects(ResourceId::Pods, Some(&key.0));
    let pods: Vec<Value> = pods
        .iter()
        .map(|p| p.value())
        .filter(|pod| {
            controller_ref(pod) == Some(("Job", key.1.as_str()))
                && selector_matches(
                    &selector,
                    pod.pointer("/metadata/labels").and_then(Value::as_object),
                )
        })
        .collect();
    let phase_count = |phase: &str| {
        pods.iter()
            .filter(|p| text(p, "/status/phase") == phase)
            .count() as i64
    };
    Counts {
        active: pods.iter().filter(|p| is_active(p)).count() as i64,
        succeeded: phase_count("Succeeded"),
        failed: phase_count("Failed"),
        ready: pods.iter().filter(|p| is_active(p) && is_ready(p)).count() as i64,
    }
}

pub(in crate::control) fn reconcile_job(c: &mut Controller, key: &Key) -> Result<(), StoreError> {
    let Some(stored) = c.store.get_object(ResourceId::Jobs, &key.0, &key.1) else {
        return Ok(());
    };
    let job = stored.value();
    if is_terminating(&job) {
        return Ok(());
    }
    let finished = ["Complete", "Failed"]
        .iter()
        .any(|kind| has_condition(&job, kind));
    let mut counts = count_pods(c, &job, key);
    let parallelism = job
        .pointer("/spec/parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let completions = job.pointer("/spec/completions").and_then(Value::as_i64);
    let suspended = job
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let complete = match completions {
        Some(n) => counts.succeeded >= n,
        None => counts.succeeded >= 1 && counts.active == 0,
    };
    if !finished && !complete && !suspended {
        let remaining = completions.map_or(parallelism, |n| (n - counts.succeeded).max(0));
        let want = parallelism.min(remaining).min(MAX_CREATES_PER_PASS);
        let missing = (want - counts.active).max(0);
        create_pods(c, &job, key, stored.uid(), missing)?;
        counts.active += missing;
    }
    let status = job_status(c, &job, &counts, complete && !finished);
    write_status(c, ResourceId::Jobs, key, Value::Object(status))
}

fn create_pods(
    c: &mut Controller,
    job: &Value,
    key: &Key,
    uid: &str,
    count: i64,
) -> Result<(), StoreError> {
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let owner = json!({
        "apiVersion": "batch/v1", "kind": "Job", "name": key.1, "uid": uid,
        "controller": true, "blockOwnerDeletion": true,
    });
    for _ in 0..count {
        let name = format!("{}-{}", key.1, c.rng.name_suffix(5));
        let pod = pod_from_template(&template, &key.0, &name, &[], owner.clone());
        c.store
            .create_object(ResourceId::Pods, pod, WriteOptions::controller())?;
        let message = format!("Created pod: {name}");
        c.record(
            job,
            Event::normal(component::JOB, "SuccessfulCreate", message),
        );
    }
    Ok(())
}

/// The Job's status; `completing`: it has just reached its completions.
fn job_status(
    c: &mut Controller,
    job: &Value,
    counts: &Counts,
    completing: bool,
) -> Map<String, Value> {
    let now = c.now();
    let mut status = job
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (field, n) in [
        ("active", counts.active),
        ("succeeded", counts.succeeded),
        ("failed", counts.failed),
    ] {
        if n == 0 {
            status.remove(field);
        } else {
            status.insert(field.into(), json!(n));
        }
    }
    status.insert("ready".into(), json!(counts.ready));
    status.insert("terminating".into(), json!(0));
    status.insert("uncountedTerminatedPods".into(), json!({}));
    status.entry("startTime").or_insert_with(|| json!(now));
    if completing {
        let reached = |kind: &str| {
            json!({"type": kind, "status": "True", "reason": "CompletionsReached",
                   "message": "Reached expected number of succeeded pods",
                   "lastProbeTime": now, "lastTransitionTime": now})
        };
        status.insert(
            "conditions".into(),
            json!([reached("SuccessCriteriaMet"), reached("Complete")]),
        );
        status.insert("completionTime".into(), json!(now));
        c.record(
            job,
            Event::normal(component::JOB, "Completed", "Job completed"),
        );
    }
    status
}

fn has_condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| text(c, "/type") == kind && text(c, "/status") == "True")
}
