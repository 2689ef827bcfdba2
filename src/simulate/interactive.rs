//! `qualifyd simulate`: a terminal session with one simulated prospect. Each line read is the
//! prospect's next message, or a command (`/wait 2d`, `/state`, `/help`, `/quit`); after each
//! one the session prints what the daemon would have sent and the prospect's state. Reads any
//! `BufRead` and writes any `Write`, so it runs the same from a terminal or a pipe.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use crate::machine::Contact;
use crate::simulate::conversation::{Conversation, Entry, Prospect};
use crate::simulate::{Brain, Error, format};

/// What `qualifyd simulate` was asked for.
#[derive(Debug, Clone, Default)]
pub struct SimulateOptions {
    pub config: PathBuf,
    pub workflow: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// RFC 3339; default: [`default_start`](crate::simulate::default_start).
    pub start: Option<String>,
    /// The prospect starts by writing, even if the workflow takes imports.
    pub inbound: bool,
    /// Recorded AI answers to use instead of the settings' provider.
    pub replay: Option<PathBuf>,
    /// Print a `> ` prompt before reading (when the input is a terminal).
    pub prompt: bool,
}

const HELP: &str = concat!(
    "  <text>      the prospect sends this message\n",
    "  /wait 2d    advance the virtual clock (s, m, h, d or w) and fire every timer that falls due\n",
    "  /state      print the prospect's full state (JSON)\n",
    "  /help       this list\n",
    "  /quit       end the session (so does the end of the input)",
);

/// Runs a session until `/quit` or the end of `input`.
pub fn simulate(options: &SimulateOptions, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), Error> {
    let mut session = Session::open(options)?;
    session.greet(out)?;
    let mut line = String::new();
    loop {
        if options.prompt {
            write!(out, "> ")?;
            out.flush()?;
        }
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if !session.handle(text, out)? {
            break;
        }
    }
    writeln!(out, "bye: {}", format::time(session.conversation.now(), session.conversation.timezone()))?;
    Ok(())
}

struct Session {
    conversation: Conversation,
    /// How much of the transcript has been printed.
    printed: usize,
}

impl Session {
    fn open(options: &SimulateOptions) -> Result<Session, Error> {
        let (settings, catalog) = crate::simulate::load_catalog(&options.config)?;
        let workflow = crate::simulate::find_workflow(&catalog, &options.workflow)?;
        let brain = match &options.replay {
            Some(file) => Brain::load_replay(file).map_err(|d| Error::Diagnostics(vec![d]))?,
            None => match Brain::from_settings(&settings) {
                Brain::Unavailable(why) => return Err(Error::Provider(why)),
                brain => brain,
            },
        };
        let entry = if options.inbound { Entry::Inbound } else { crate::simulate::default_entry(&workflow) };
        if let Some(problem) = crate::simulate::entry_problem(&workflow, entry) {
            return Err(Error::Usage(problem));
        }
        let start = match &options.start {
            Some(text) => crate::simulate::parse_start(text).map_err(Error::Usage)?,
            None => crate::simulate::default_start(&workflow, &settings),
        };
        let contact = Contact {
            name: options.name.clone(),
            phone: options.phone.clone(),
            email: options.email.clone(),
            source: Some("simulate".to_string()),
            ..Contact::default()
        };
        // Stored as the daemon stores an import: E.164 phone, so the window is the daemon's.
        let contact = crate::machine::reach::normalise_contact(contact).map_err(Error::Usage)?;
        let prospect = Prospect { contact, fields: Default::default() };
        let stage = crate::simulate::stage(&settings, workflow, brain);
        Ok(Session { conversation: Conversation::new(stage, prospect, entry, start), printed: 0 })
    }

    fn greet(&mut self, out: &mut dyn Write) -> Result<(), Error> {
        let conversation = &self.conversation;
        let workflow = conversation.workflow();
        writeln!(
            out,
            "simulating workflow `{}` on {} with the `{}` AI provider; nothing is sent (every channel is the outbox)",
            workflow.id,
            workflow.channel,
            conversation.brain().name()
        )?;
        writeln!(
            out,
            "virtual clock: {}; send windows apply (a send outside the window shows as a deferred timer)",
            format::time(conversation.now(), conversation.timezone())
        )?;
        if let Err(refusal) =
            crate::machine::reach::check_send(conversation.state(), workflow.channel, conversation.now())
            && matches!(refusal, crate::machine::reach::Refusal::NoContact { .. })
            && conversation.entered_by_import()
        {
            writeln!(
                out,
                "note: {refusal}: every {} message will fail, as in the daemon (give it with --phone / --email)",
                workflow.channel
            )?;
        }
        writeln!(out, "type the prospect's messages; /help lists the commands")?;
        let outcome = self.conversation.start();
        if !self.conversation.entered() {
            writeln!(out, "the prospect enters by writing first: type their first message")?;
            return Ok(());
        }
        self.show(outcome, out)
    }

    /// Handles one input line; `false` ends the session.
    fn handle(&mut self, line: &str, out: &mut dyn Write) -> Result<bool, Error> {
        let trimmed = line.trim();
        let (command, argument) = trimmed.split_once(char::is_whitespace).unwrap_or((trimmed, ""));
        match command {
            "" => {}
            "/quit" | "/exit" => return Ok(false),
            "/help" => writeln!(out, "{HELP}")?,
            "/state" => {
                let json = serde_json::to_string_pretty(self.conversation.state()).unwrap_or_default();
                writeln!(out, "{json}")?;
            }
            "/wait" => match crate::schedule::parse_duration(argument) {
                Ok(by) => {
                    let outcome = self.conversation.wait(by);
                    let now = format::time(self.conversation.now(), self.conversation.timezone());
                    self.show(outcome, out)?;
                    writeln!(out, "  clock is now {now}")?;
                }
                Err(message) => writeln!(out, "error: {message}")?,
            },
            other if other.starts_with('/') => writeln!(out, "unknown command `{other}`; /help lists the commands")?,
            _ => {
                let outcome = self.conversation.say(line);
                self.show(outcome, out)?;
            }
        }
        Ok(true)
    }

    /// Prints what happened since the last call, the error if any, and the state summary.
    fn show(&mut self, outcome: Result<(), Error>, out: &mut dyn Write) -> Result<(), Error> {
        let timezone = self.conversation.timezone();
        for record in &self.conversation.transcript()[self.printed..] {
            writeln!(out, "{}", format::record(record, timezone))?;
        }
        self.printed = self.conversation.transcript().len();
        if let Err(err) = outcome {
            if let Error::Io(_) = err {
                return Err(err);
            }
            writeln!(out, "error: {err}")?;
        }
        writeln!(out, "{}", format::summary(&self.conversation))?;
        Ok(())
    }
}
