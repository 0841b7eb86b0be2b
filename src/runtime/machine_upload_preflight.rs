//! The preflight (`allow_upload`, PROTOCOL.md §3.2): the push, and what its reply makes of the
//! selected files — accepted entries, per-file refusals, the config.

use super::*;

impl Runtime {
    pub(super) fn push_preflight(&mut self, preflight: Preflight, entries: Vec<Value>, now: Millis) {
        let target = preflight.target.clone();
        let mut body = Map::new();
        body.insert("entries".into(), Value::Array(entries));
        match self.wire_upload_push(&target, "allow_upload", body, now) {
            Ok(push) => {
                self.pushes.insert(push, Purpose::Preflight(Box::new(preflight)));
            }
            Err(_) => self.on_preflight_answer(preflight, Err(PushError::ChannelClosed), now),
        }
    }

    pub(crate) fn on_preflight_answer(&mut self, preflight: Preflight, result: Result<Reply, PushError>, now: Millis) {
        let Preflight { target, request, files, restart } = preflight;
        if !self.uploads.transfers.contains_key(&target) || self.root(&target.topic, &target.root_id).is_none() {
            for (_, file) in &files {
                self.emit(RuntimeEvent::ReleaseFile { file: file.file });
            }
            if let Some(request) = request {
                self.settle(request, Err(SyncError::Unmounted));
            }
            return;
        }
        let outcome = match result {
            Ok(reply) if reply.is_ok() => Ok(reply.response.as_json().cloned().unwrap_or(Value::Null)),
            Ok(reply) => {
                let response = inbound::json_of(&reply.response);
                let code = extract_code(&response).unwrap_or_else(|| "preflight_failed".to_owned());
                Err((upload_error(&code, format!("the server refused the upload: {response}")), SyncError::UploadRefused(response)))
            }
            Err(PushError::Timeout) => {
                Err((upload_error("timeout", "the server did not answer the upload request in time"), SyncError::UploadTimeout))
            }
            Err(_) => Err((upload_error("disconnected", "the connection dropped before the server answered"), SyncError::Disconnected)),
        };
        match outcome {
            Ok(response) => self.accept_preflight(&target, &response, files, &restart, now),
            Err((error, sync_error)) => {
                for (_, file) in &files {
                    self.emit(RuntimeEvent::ReleaseFile { file: file.file });
                }
                let transfer = self.transfer(&target);
                for client_ref in &restart {
                    if let Some(entry) = transfer.entry_mut(client_ref) {
                        entry.fail(&error.code, error.message.clone(), true);
                    }
                }
                transfer.errors.push(error);
                if request.is_some() {
                    transfer.status = UploadStatus::Error;
                }
                if let Some(request) = request {
                    self.settle(request, Err(sync_error));
                }
                self.upload_changed(&target);
                self.finish_start_if_done(&target);
                return;
            }
        }
        self.upload_changed(&target);
        if let Some(request) = request {
            let entries = self.upload_entries_json(&target);
            self.settle(request, Ok(entries));
        }
        self.finish_start_if_done(&target);
    }

    /// An `ok` preflight: config, accepted entries, per-file errors (PROTOCOL.md §3.2).
    pub(super) fn accept_preflight(
        &mut self,
        target: &UploadTarget,
        response: &Value,
        files: Vec<(Rc<str>, SelectedFile)>,
        restart: &[Rc<str>],
        now: Millis,
    ) {
        let accepted = response.get("entries").and_then(Value::as_object);
        let refused: Vec<(String, UploadError)> = response
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| errors.iter().filter_map(parse_refusal).collect())
            .unwrap_or_default();
        let config = response.get("config").map(parse_config);
        let is_select = !files.is_empty();
        // A refusal that names none of the files (e.g. `client_ref: ""`) explains the files the
        // reply is otherwise silent about.
        let stray_refusals = refused.iter().any(|(refused_ref, _)| {
            !files.iter().any(|(client_ref, _)| **client_ref == **refused_ref) && !restart.iter().any(|r| **r == **refused_ref)
        });
        let mut released = Vec::new();
        let mut begin = Vec::new();
        let transfer = self.transfer(target);
        if let Some(config) = config {
            transfer.config = Some(config);
        }
        for (client_ref, file) in files {
            match accepted.and_then(|entries| entries.get(&*client_ref)).and_then(parse_accepted) {
                Some((entry_ref, mode)) => transfer.entries.push(LocalEntry::accepted(client_ref, entry_ref, file, mode)),
                None => {
                    if !stray_refusals && !refused.iter().any(|(refused_ref, _)| *refused_ref == *client_ref) {
                        let message = format!("the server neither accepted nor refused {}", file.name);
                        transfer.errors.push(upload_error("preflight_rejected", message));
                    }
                    released.push(file.file);
                }
            }
        }
        for client_ref in restart {
            let fresh = accepted.and_then(|entries| entries.get(&**client_ref)).and_then(parse_accepted);
            let refusal = refused.iter().find(|(refused_ref, _)| **refused_ref == **client_ref).map(|(_, error)| error.clone());
            let Some(entry) = transfer.entries.iter_mut().find(|entry| entry.client_ref == *client_ref) else { continue };
            match fresh {
                Some((entry_ref, mode)) => {
                    let old = std::mem::replace(&mut entry.entry_ref, entry_ref);
                    entry.mode = mode;
                    entry.phase = Phase::Ready;
                    entry.errors.clear();
                    entry.seen = false;
                    entry.reported = None;
                    transfer.retired.push(old);
                    begin.push(client_ref.clone());
                }
                None => {
                    let error = refusal.unwrap_or_else(|| upload_error("preflight_rejected", default_message("preflight_rejected")));
                    entry.fail(&error.code, error.message, false);
                }
            }
        }
        let restart_refusals: Vec<&Rc<str>> = restart.iter().collect();
        for (client_ref, error) in refused {
            if !restart_refusals.iter().any(|restarted| ***restarted == *client_ref) {
                transfer.errors.push(error);
            }
        }
        if is_select {
            transfer.status = if transfer.errors.is_empty() { UploadStatus::Selecting } else { UploadStatus::Error };
        }
        for file in released {
            self.emit(RuntimeEvent::ReleaseFile { file });
        }
        for client_ref in begin {
            self.begin_entry(&EntryAddr { target: target.clone(), client_ref }, now);
        }
    }
}

/// One refused file of a preflight reply: `{client_ref, error: {code, message}}`.
fn parse_refusal(value: &Value) -> Option<(String, UploadError)> {
    let client_ref = value.get("client_ref").and_then(Value::as_str).unwrap_or("").to_owned();
    let error = value.get("error");
    let code = error.and_then(|error| error.get("code")).and_then(Value::as_str).unwrap_or("preflight_rejected").to_owned();
    let message = error
        .and_then(|error| error.get("message"))
        .and_then(Value::as_str)
        .filter(|message| !message.is_empty())
        .map_or_else(|| default_message(&code).to_owned(), str::to_owned);
    Some((client_ref, UploadError { code, message }))
}

/// An accepted entry of a preflight reply: its server ref and how to send it.
fn parse_accepted(value: &Value) -> Option<(Rc<str>, EntryMode)> {
    let entry_ref = value.get("entry_ref").and_then(Value::as_str).filter(|entry_ref| !entry_ref.is_empty())?;
    let mode = match value.get("type").and_then(Value::as_str) {
        Some("external") => EntryMode::External {
            uploader: value.get("uploader").and_then(Value::as_str).unwrap_or("external").to_owned(),
            meta: value.get("meta").cloned().unwrap_or_else(|| json!({})),
        },
        _ => EntryMode::Channel { token: Some(value.get("token").and_then(Value::as_str)?.to_owned()) },
    };
    Some((entry_ref.into(), mode))
}

/// The `config` of a preflight reply, like a `config` upload op's.
fn parse_config(value: &Value) -> UploadConfig {
    let whole = |key: &str| value.get(key).and_then(Value::as_u64).unwrap_or(0);
    let defaults = upload_transfer::default_config();
    UploadConfig {
        accept: value.get("accept").map_or(defaults.accept, Node::from_json),
        max_entries: whole("max_entries"),
        max_file_size: whole("max_file_size"),
        chunk_size: Some(whole("chunk_size")).filter(|size| *size > 0).unwrap_or(defaults.chunk_size),
    }
}
