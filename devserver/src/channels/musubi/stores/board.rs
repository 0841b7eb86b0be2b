//! `Demo.BoardStore`: a title, a list of card stores and an async `stats` value.
//!
//! Params: `cards` (array of strings, default two cards) seeds a new page only.
//!
//! Tree:
//!
//! ```json
//! {"__musubi_store_id__": [], "title": "Board",
//!  "cards": [{"__musubi_store_id__": ["cards", "1"], "id": "1", "title": "…", "done": false}, …],
//!  "stats": {"__musubi_async__": true, "status": "loading", "result": null, "reason": null}}
//! ```
//!
//! `stats` is `loading` when the page starts and `ok` with `{"cards": <count>}` 200 ms later (one
//! render cycle); from then on it stays `ok` and follows the card count.
//!
//! | store | command | effect |
//! |---|---|---|
//! | `[]` | `add_card {title}` (string, required) | appends a card; reply `ok {"id": "<new id>"}` |
//! | `[]` | `remove_card {id}` (string or number, required) | removes the card (`error {"reason": "unknown card"}` if absent) |
//! | `["cards", id]` | `rename {title}` (string, required) | sets the card's title |
//! | `["cards", id]` | `toggle` | flips `done` |
//!
//! A payload that breaks these rules gets `error {"reason": "invalid payload: …"}` naming the
//! field (e.g. `invalid payload: title is required`) and changes nothing.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{CommandOutcome, InvalidArgs, RootKind, RootStore, Timer, shared_by_id, string_arg};
use crate::channels::musubi::render::{AsyncValue, store_node};

/// The declared root.
pub const KIND: RootKind = RootKind { module: "Demo.BoardStore", params_key: shared_by_id, create };

/// How long `stats` stays `loading` after the page starts.
pub const STATS_DELAY: Duration = Duration::from_millis(200);

/// The store-id segment under which cards live.
const CARDS: &str = "cards";

const ROOT_COMMANDS: &[&str] = &["add_card", "remove_card"];
const CARD_COMMANDS: &[&str] = &["rename", "toggle"];

/// The timer tag of the stats load.
const STATS_READY: u32 = 1;

/// The board's state.
#[derive(Debug)]
struct BoardStore {
    title: String,
    cards: Vec<Card>,
    next_id: u64,
    stats_ready: bool,
    timers: Vec<Timer>,
}

/// One card (a child store `["cards", id]`).
#[derive(Debug)]
struct Card {
    id: String,
    title: String,
    done: bool,
}

fn create(params: &Map<String, Value>) -> Result<Box<dyn RootStore>, String> {
    let titles: Vec<String> = match params.get("cards") {
        None => vec!["Try Musubi".into(), "Open a second tab".into()],
        Some(Value::Array(titles)) => {
            titles.iter().map(|title| title.as_str().map(str::to_owned).ok_or("`cards` must hold strings")).collect::<Result<_, _>>()?
        }
        Some(_) => return Err("`cards` must be an array of strings".into()),
    };
    let mut board = BoardStore {
        title: "Board".into(),
        cards: Vec::new(),
        next_id: 1,
        stats_ready: false,
        timers: vec![Timer { delay: STATS_DELAY, tag: STATS_READY }],
    };
    for title in titles {
        board.add(title);
    }
    Ok(Box::new(board))
}

impl BoardStore {
    fn add(&mut self, title: String) -> String {
        let id = self.next_id.to_string();
        self.next_id += 1;
        self.cards.push(Card { id: id.clone(), title, done: false });
        id
    }

    fn card_mut(&mut self, store_id: &[String]) -> Option<&mut Card> {
        let [segment, id] = store_id else { return None };
        if segment != CARDS {
            return None;
        }
        self.cards.iter_mut().find(|card| card.id == *id)
    }

    fn stats(&self) -> AsyncValue {
        if self.stats_ready { AsyncValue::Ok(json!({"cards": self.cards.len()})) } else { AsyncValue::Loading(Value::Null) }
    }
}

impl Card {
    fn render(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("id".into(), json!(self.id));
        fields.insert("title".into(), json!(self.title));
        fields.insert("done".into(), json!(self.done));
        store_node(&[CARDS.to_owned(), self.id.clone()], fields)
    }
}

impl RootStore for BoardStore {
    fn render(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("title".into(), json!(self.title));
        fields.insert("cards".into(), Value::Array(self.cards.iter().map(Card::render).collect()));
        fields.insert("stats".into(), self.stats().to_wire());
        store_node(&[], fields)
    }

    fn commands(&self, store_id: &[String]) -> Option<&'static [&'static str]> {
        match store_id {
            [] => Some(ROOT_COMMANDS),
            [segment, id] if segment == CARDS && self.cards.iter().any(|card| card.id == *id) => Some(CARD_COMMANDS),
            _ => None,
        }
    }

    fn command(&mut self, store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, InvalidArgs> {
        match (store_id.is_empty(), name) {
            (true, "add_card") => {
                let id = self.add(string_arg(payload, "title")?);
                let mut reply = Map::new();
                reply.insert("id".into(), json!(id));
                Ok(CommandOutcome::Reply(reply))
            }
            (true, "remove_card") => {
                let id = match payload.get("id") {
                    Some(Value::String(id)) => id.clone(),
                    Some(Value::Number(id)) => id.to_string(),
                    Some(_) => return Err(InvalidArgs("id must be a string or a number".into())),
                    None => return Err(InvalidArgs("id is required".into())),
                };
                let before = self.cards.len();
                self.cards.retain(|card| card.id != id);
                if self.cards.len() == before {
                    return Ok(CommandOutcome::Error(json!({"reason": "unknown card"})));
                }
                Ok(CommandOutcome::NoReply)
            }
            (false, "rename") => {
                let title = string_arg(payload, "title")?;
                let Some(card) = self.card_mut(store_id) else { return Ok(unknown_store()) };
                card.title = title;
                Ok(CommandOutcome::NoReply)
            }
            (false, "toggle") => {
                let Some(card) = self.card_mut(store_id) else { return Ok(unknown_store()) };
                card.done = !card.done;
                Ok(CommandOutcome::NoReply)
            }
            // Not declared (the page server checks `commands` first).
            _ => Ok(CommandOutcome::Error(json!({"reason": "unknown command"}))),
        }
    }

    fn take_timers(&mut self) -> Vec<Timer> {
        std::mem::take(&mut self.timers)
    }

    fn on_timer(&mut self, tag: u32) {
        if tag == STATS_READY {
            self.stats_ready = true;
        }
    }
}

/// The card is gone (the page server checks `commands` first, so this does not happen).
fn unknown_store() -> CommandOutcome {
    CommandOutcome::Error(json!({"reason": "unknown store"}))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn id(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|segment| (*segment).to_owned()).collect()
    }

    #[test]
    fn renders_cards_as_child_stores_and_stats_loading() {
        let mut board = create(json!({"cards": ["a"]}).as_object().unwrap()).unwrap();
        assert_eq!(
            board.render(),
            json!({"__musubi_store_id__": [], "title": "Board",
                   "cards": [{"__musubi_store_id__": ["cards", "1"], "id": "1", "title": "a", "done": false}],
                   "stats": {"__musubi_async__": true, "status": "loading", "result": null, "reason": null}})
        );
        assert_eq!(board.take_timers(), vec![Timer { delay: STATS_DELAY, tag: STATS_READY }]);
        board.on_timer(STATS_READY);
        assert_eq!(board.render()["stats"]["result"], json!({"cards": 1}));
    }

    #[test]
    fn commands_are_found_per_store() {
        let board = create(&Map::new()).unwrap();
        assert_eq!(board.commands(&[]), Some(ROOT_COMMANDS));
        assert_eq!(board.commands(&id(&["cards", "2"])), Some(CARD_COMMANDS));
        assert_eq!(board.commands(&id(&["cards", "9"])), None);
        assert_eq!(board.commands(&id(&["cards"])), None);
    }

    #[test]
    fn card_commands_change_the_card() {
        let mut board = create(&Map::new()).unwrap();
        let reply = board.command(&[], "add_card", json!({"title": "c"}).as_object().unwrap()).unwrap();
        assert_eq!(reply, CommandOutcome::Reply(json!({"id": "3"}).as_object().unwrap().clone()));
        board.command(&id(&["cards", "3"]), "rename", json!({"title": "C"}).as_object().unwrap()).unwrap();
        board.command(&id(&["cards", "3"]), "toggle", &Map::new()).unwrap();
        assert_eq!(board.render()["cards"][2], json!({"__musubi_store_id__": ["cards", "3"], "id": "3", "title": "C", "done": true}));
        board.command(&[], "remove_card", json!({"id": 1}).as_object().unwrap()).unwrap();
        assert_eq!(board.render()["cards"].as_array().unwrap().len(), 2);
        let missing = board.command(&[], "remove_card", json!({"id": "1"}).as_object().unwrap()).unwrap();
        assert_eq!(missing, CommandOutcome::Error(json!({"reason": "unknown card"})));
    }

    #[test]
    fn bad_payloads_are_refused_and_change_nothing() {
        let mut board = create(&Map::new()).unwrap();
        let before = board.render();
        let card = id(&["cards", "1"]);
        let cases = [
            (vec![], "add_card", json!({}), "title is required"),
            (vec![], "add_card", json!({"title": null}), "title must be a string"),
            (vec![], "remove_card", json!({}), "id is required"),
            (vec![], "remove_card", json!({"id": [1]}), "id must be a string or a number"),
            (card.clone(), "rename", json!({"title": false}), "title must be a string"),
            (card, "rename", json!({"name": "x"}), "title is required"),
        ];
        for (store_id, name, payload, reason) in cases {
            let refused = board.command(&store_id, name, payload.as_object().unwrap());
            assert_eq!(refused, Err(InvalidArgs(reason.into())), "{name} {payload}");
        }
        assert_eq!(board.render(), before);
    }
}
