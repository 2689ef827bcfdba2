//! The `openai` provider: answers an `ai` step through any OpenAI-compatible Chat Completions
//! server (OpenAI, Ollama, vLLM, llama.cpp) with a strict JSON-schema response format built
//! from the step's declarations ([`super::schema`]), then checks the answer ([`super::validate`]).
//!
//! What is sent: a system message (the step's rendered prompt, then how to answer) and a user
//! message with the recent conversation as `prospect:` / `us:` lines, oldest first. No internal
//! id (prospect, action, workflow version) is ever sent; with `mask_contact_details`, phone
//! numbers and email addresses are replaced by `[phone]` / `[email]` in both messages.
//!
//! Failures: network errors, timeouts, 408, 429 and 5xx are `Transient`, so the engine keeps the
//! prospect on its `ai` step and retries durably (capped backoff, forever: no prospect is lost or
//! skipped while the server is down). Other 4xx are `Permanent`. An answer that fails validation
//! is asked for once more with the problems fed back; a second invalid answer is `Permanent`.
//!
//! Retries inside one call: async-openai's own retry layer is replaced (through its
//! `middleware` feature) by a plain transport, and `complete` retries `Transient` failures itself
//! at most `ai.max_retries` times, 100 ms doubling up to 2 s apart. The library's layer retries
//! a fixed 3 times, sleeps for any `Retry-After` however long, and turns a 429 whose body is not
//! JSON into a parse error that loses the status; ours follows the settings and the same
//! classification as everything else. Longer outages are the engine's durable retry, which
//! survives a restart. Each attempt is cut at `ai.timeout`; a timeout is not retried in-call.

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
    CreateChatCompletionResponse, ResponseFormat, ResponseFormatJsonSchema,
};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::mask::mask_contact_details;
use super::schema::{SCHEMA_NAME, answer_schema, extracted};
use super::validate::{Invalid, validate};
use crate::catalog::model::{AiStep, FieldType, Workflow};
use crate::engine::{AiProvider, AiRequest, BoxFuture, DriverError};
use crate::machine::{AiAnswer, Direction, ProspectState};
use crate::settings::OpenAiSettings;

/// Token counts of one or more completions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: u64,
    pub completion: u64,
}

/// An OpenAI-compatible Chat Completions provider. Cheap to share (`Arc` it).
pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    model: String,
    timeout: Duration,
    /// Requests in flight at once (`ai.max_concurrency`).
    slots: Arc<Semaphore>,
    max_retries: u32,
    mask: bool,
}

/// What the model said: its content, or its refusal.
struct Completion {
    text: String,
    refused: bool,
}

/// The longest pause between two in-call attempts.
const MAX_PAUSE: Duration = Duration::from_secs(2);

impl OpenAiProvider {
    pub fn new(settings: &OpenAiSettings) -> OpenAiProvider {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()
            .unwrap_or_default();
        // Only the settings decide: no organization or project header from the environment.
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.as_str())
            .with_api_key(settings.api_key.expose())
            .with_org_id("")
            .with_project_id("");
        OpenAiProvider {
            client: Client::with_config(config).with_http_service(ReqwestService::new(http)),
            model: settings.model.clone(),
            timeout: settings.timeout,
            slots: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
            max_retries: settings.max_retries,
            mask: settings.mask_contact_details,
        }
    }

    /// Asks the model, checks the answer, asks once more with the problems when it is invalid.
    pub async fn ask(&self, request: &AiRequest<'_>) -> Result<(AiAnswer, Usage), DriverError> {
        let schema = answer_schema(request.workflow, request.step);
        let mut messages = vec![
            system(self.text(&instructions(request.prompt, request.workflow, request.step))),
            user(self.text(&conversation(request.state))),
        ];
        let mut usage = Usage::default();
        let first = self.complete(&messages, &schema, &mut usage).await?;
        let problems = match judge(request, &first) {
            Ok(answer) => return Ok((answer, usage)),
            Err(problems) => problems,
        };
        tracing::warn!(prospect = %request.state.id, error = %problems, "the model's answer failed validation; asking again");
        messages.push(assistant(first.text));
        messages.push(user(format!(
            "Your answer was refused: {problems}. Answer again with only the JSON object the response schema describes."
        )));
        let second = self.complete(&messages, &schema, &mut usage).await?;
        match judge(request, &second) {
            Ok(answer) => Ok((answer, usage)),
            Err(problems) => {
                Err(DriverError::Permanent(format!("the model's answer failed validation twice: {problems}")))
            }
        }
    }

    fn text(&self, text: &str) -> String {
        if self.mask { mask_contact_details(text) } else { text.to_string() }
    }

    /// One Chat Completions call, with the in-call retries; counts its tokens into `usage`.
    async fn complete(
        &self,
        messages: &[ChatCompletionRequestMessage],
        schema: &Value,
        usage: &mut Usage,
    ) -> Result<Completion, DriverError> {
        let format = ResponseFormatJsonSchema {
            name: SCHEMA_NAME.to_string(),
            description: Some("The qualification answer: extracted fields, reply, next step, intent.".into()),
            schema: schema.clone(),
            strict: Some(true),
        };
        let body = CreateChatCompletionRequestArgs::default()
            .model(self.model.as_str())
            .messages(messages.to_vec())
            .response_format(ResponseFormat::JsonSchema { json_schema: format })
            .build()
            .map_err(|err| DriverError::Permanent(format!("cannot build the chat completion request: {err}")))?;
        let mut pause = Duration::from_millis(100);
        let mut attempt = 0;
        let response = loop {
            match self.attempt(body.clone()).await {
                Ok(response) => break response,
                Err(Attempt::Retry(err)) if attempt < self.max_retries => {
                    tracing::debug!(attempt, error = %err, "AI request failed; retrying within the call");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                    attempt += 1;
                }
                Err(Attempt::Retry(err) | Attempt::Stop(err)) => return Err(err),
            }
        };
        if let Some(counted) = &response.usage {
            record_usage(usage, u64::from(counted.prompt_tokens), u64::from(counted.completion_tokens));
        }
        let Some(message) = response.choices.into_iter().next().map(|c| c.message) else {
            return Err(DriverError::Transient("the AI server answered without any choice".into()));
        };
        match message.refusal.filter(|r| !r.trim().is_empty()) {
            Some(refusal) => Ok(Completion { text: refusal, refused: true }),
            None => Ok(Completion { text: message.content.unwrap_or_default(), refused: false }),
        }
    }

    /// One HTTP request, under a concurrency slot and the timeout.
    async fn attempt(&self, body: CreateChatCompletionRequest) -> Result<CreateChatCompletionResponse, Attempt> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| Attempt::Stop(DriverError::Transient("the provider is closed".into())))?;
        match tokio::time::timeout(self.timeout, self.client.chat().create(body)).await {
            Err(_) => Err(Attempt::Stop(DriverError::Transient(format!(
                "the AI server did not answer within {:?}",
                self.timeout
            )))),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => match classify(err) {
                err @ DriverError::Transient(_) => Err(Attempt::Retry(err)),
                err => Err(Attempt::Stop(err)),
            },
        }
    }
}

/// How one attempt failed: worth another attempt in this call, or not.
enum Attempt {
    Retry(DriverError),
    Stop(DriverError),
}

/// The answer in `completion`, checked; a refusal is an invalid answer (its words stay out of
/// the problems, which are logged).
fn judge(request: &AiRequest<'_>, completion: &Completion) -> Result<AiAnswer, Invalid> {
    if completion.refused {
        return Err(Invalid(vec!["the model refused to answer".into()]));
    }
    validate(request.workflow, request.step, &completion.text)
}

impl AiProvider for OpenAiProvider {
    fn answer<'a>(&'a self, request: AiRequest<'a>) -> BoxFuture<'a, Result<AiAnswer, DriverError>> {
        Box::pin(async move {
            let (answer, usage) = self.ask(&request).await?;
            tracing::debug!(prospect = %request.state.id, prompt_tokens = usage.prompt, completion_tokens = usage.completion, "ai answer");
            Ok(AiAnswer { usage: Some((usage.prompt, usage.completion)), ..answer })
        })
    }

    fn name(&self) -> &'static str {
        "openai"
    }
}

fn record_usage(usage: &mut Usage, prompt: u64, completion: u64) {
    usage.prompt += prompt;
    usage.completion += completion;
    metrics::counter!("qualifyd_ai_tokens_total", "kind" => "prompt").increment(prompt);
    metrics::counter!("qualifyd_ai_tokens_total", "kind" => "completion").increment(completion);
}

/// Network errors, timeouts, 408, 429 and 5xx may pass: `Transient`. Other 4xx: `Permanent`.
/// A body that is not a chat completion (or a 4xx error body that is not JSON, whose status
/// the library does not keep) is `Transient`: a misconfigured server then holds prospects on
/// their `ai` step until it is fixed, instead of failing them all.
fn classify(err: OpenAIError) -> DriverError {
    match err {
        OpenAIError::ApiError(api) => {
            let status = api.status_code;
            if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                DriverError::Transient(format!("the AI server answered {status}"))
            } else {
                DriverError::Permanent(format!(
                    "the AI server refused the request ({status}): {}",
                    api.api_error.message
                ))
            }
        }
        OpenAIError::Reqwest(err) => DriverError::Transient(format!("cannot reach the AI server: {err}")),
        OpenAIError::JSONDeserialize(err, _) => {
            DriverError::Transient(format!("the AI server's answer is not a chat completion: {err}"))
        }
        OpenAIError::InvalidArgument(message) => DriverError::Permanent(format!("invalid AI request: {message}")),
        other => DriverError::Transient(other.to_string()),
    }
}

fn system(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(text.into())
}

fn user(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(text.into())
}

fn assistant(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Assistant(text.into())
}

/// The rendered prompt, then how to fill each key of the answer.
fn instructions(prompt: &str, workflow: &Workflow, step: &AiStep) -> String {
    let mut out = format!("{}\n\nAnswer with one JSON object that follows the response schema:\n", prompt.trim());
    out.push_str(
        "- \"fields\": what the prospect said about each field below, or null when the conversation does not say it. Never guess.\n",
    );
    for field in extracted(workflow, step) {
        let kind = match &field.kind {
            FieldType::Enum { values, .. } => format!("one of: {}", values.join(", ")),
            FieldType::Number => "a number, without unit".to_string(),
            other => other.name().to_string(),
        };
        let description = if field.description.is_empty() { String::new() } else { format!(": {}", field.description) };
        out.push_str(&format!("  - {} ({kind}){description}\n", field.name));
    }
    if step.reply {
        out.push_str("- \"reply\": the next message to send to the prospect, short, in their language; or null.\n");
    }
    if !step.choose.is_empty() {
        let ids: Vec<&str> = step.choose.iter().map(|(id, _)| id.as_str()).collect();
        out.push_str(&format!(
            "- \"next\": where the conversation goes next: {}; or null to go on as planned.\n",
            ids.join(", ")
        ));
    }
    out.push_str(
        "- \"intent\": what the prospect's last message means: opt_out (they ask not to be contacted any more), positive, negative, question; or null.\n",
    );
    out
}

/// The recent messages, oldest first, one `prospect:` / `us:` line each.
fn conversation(state: &ProspectState) -> String {
    if state.recent.is_empty() {
        return "The conversation has no message yet.".to_string();
    }
    let mut out = String::from("The conversation so far, oldest first:\n");
    for message in &state.recent {
        let who = match message.direction {
            Direction::Inbound => "prospect",
            Direction::Outbound => "us",
        };
        out.push_str(&format!("{who}: {}\n", message.text.trim()));
    }
    out
}

#[cfg(test)]
mod tests {
    use async_openai::error::{ApiError, ApiErrorResponse};
    use chrono::Utc;
    use reqwest::StatusCode;

    use super::*;
    use crate::ai::schema::testing::{ai_step, workflow};
    use crate::machine::Contact;

    fn status(code: u16) -> DriverError {
        let api_error = ApiError { message: "nope".into(), ..ApiError::default() };
        classify(OpenAIError::ApiError(ApiErrorResponse {
            status_code: StatusCode::from_u16(code).unwrap(),
            api_error,
        }))
    }

    #[test]
    fn server_side_and_rate_limit_failures_are_transient_client_errors_permanent() {
        for code in [408, 429, 500, 502, 503] {
            assert!(matches!(status(code), DriverError::Transient(_)), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(matches!(status(code), DriverError::Permanent(_)), "{code}");
        }
        assert_eq!(status(401).to_string(), "the AI server refused the request (401 Unauthorized): nope");
        let garbled = serde_json::from_str::<Value>("<html>").unwrap_err();
        assert!(
            matches!(classify(OpenAIError::JSONDeserialize(garbled, "<html>".into())), DriverError::Transient(m) if !m.contains("html"))
        );
    }

    #[test]
    fn instructions_follow_the_prompt_and_describe_every_key() {
        let workflow = workflow(
            "  - { id: qualify, ai: { prompt: q.j2, extract: [budget, timeline], reply: true, choose: [handoff, later] } }",
        );
        let text = instructions("  Qualify the lead.\n", &workflow, &ai_step(&workflow));
        let expected = "Qualify the lead.\n\nAnswer with one JSON object that follows the response schema:\n\
- \"fields\": what the prospect said about each field below, or null when the conversation does not say it. Never guess.\n\
\x20 - budget (a number, without unit): Monthly budget in euros\n\
\x20 - timeline (one of: now, this_quarter, later)\n\
- \"reply\": the next message to send to the prospect, short, in their language; or null.\n\
- \"next\": where the conversation goes next: handoff, later; or null to go on as planned.\n\
- \"intent\": what the prospect's last message means: opt_out (they ask not to be contacted any more), positive, negative, question; or null.\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn the_conversation_is_oldest_first_without_ids() {
        let workflow = workflow("  - { id: qualify, ai: { prompt: q.j2 }, next: handoff }");
        let now = Utc::now();
        let mut state =
            ProspectState::new("p_secret".into(), &workflow, Contact::default(), Default::default(), "tok".into(), now);
        assert_eq!(conversation(&state), "The conversation has no message yet.");
        state.remember(Direction::Outbound, "Hello!", now);
        state.remember(Direction::Inbound, " 1500 a month ", now);
        assert_eq!(
            conversation(&state),
            "The conversation so far, oldest first:\nus: Hello!\nprospect: 1500 a month\n"
        );
    }
}
