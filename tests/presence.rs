//! Presence: a member is in a room once however many connections it has, joins with its first
//! and leaves with its last; listeners hear the changes; a backend hears of this instance's
//! members and tells of the other instances'.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fratello::broadcast::{
    Backend, BackendError, HubConfig, Inbox, Member, MemberEvent, MemberEvents, MembersFuture,
};
use fratello::prelude::*;
use fratello::test::{TestClient, WsClient};
use fratello::{Hub, Outbound};

#[derive(serde::Deserialize)]
struct Who {
    user: String,
}

/// A member's socket: joins the room as the `user` query parameter, sends the member list,
/// then every change as `+key` / `-key`.
#[ws("/rooms/{room}")]
async fn member(ctx: Context) -> Result<()> {
    let room = ctx.param("room").unwrap_or_default().to_owned();
    let Who { user } = ctx.query()?;
    let hub = ctx.hub();
    let mut changes = hub.member_events(&room);
    let _here = hub.join(&room, &user, format!("{user}'s meta"));
    let members: Vec<String> = hub.members(&room).await.into_iter().map(|m| m.key).collect();
    ctx.send(format!("members {}", members.join(","))).await?;
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                MemberEvent::Joined(m) => ctx.send(format!("+{}", m.key)).await?,
                MemberEvent::Left(m) => ctx.send(format!("-{}", m.key)).await?,
                MemberEvent::Resync => ctx.send("resync").await?,
            },
            msg = ctx.recv() => if msg?.is_none() { return Ok(()) },
        }
    }
}

async fn connect(c: &TestClient, room: &str, user: &str) -> WsClient {
    c.ws(&format!("/rooms/{room}?user={user}")).connect().await
}

/// Reads texts until `want`, failing on anything else but the member's own join.
async fn expect(ws: &mut WsClient, want: &str) {
    let got = ws.recv_text().await;
    assert_eq!(got, want);
}

/// Nothing more arrives for a moment.
async fn quiet(ws: &mut WsClient) {
    if let Ok(Some(m)) = ws.recv_timeout(Duration::from_millis(200)).await {
        panic!("nothing expected, got {m:?}");
    }
}

#[tokio::test]
async fn several_connections_of_one_member_join_once_and_leave_with_the_last() {
    let hub = Hub::new();
    let c = TestClient::start(App::only(module_path!()).with_hub(hub.clone())).await;
    let mut ann = connect(&c, "r", "ann").await;
    expect(&mut ann, "members ann").await;
    expect(&mut ann, "+ann").await; // her own join, heard as it happened

    let mut bob1 = connect(&c, "r", "bob").await;
    expect(&mut bob1, "members ann,bob").await;
    expect(&mut bob1, "+bob").await;
    expect(&mut ann, "+bob").await;
    // Bob's second tab: already in the room, nobody hears of it.
    let mut bob2 = connect(&c, "r", "bob").await;
    expect(&mut bob2, "members ann,bob").await;
    quiet(&mut ann).await;
    assert_eq!(
        hub.members("r").await,
        [
            Member { key: "ann".into(), meta: "ann's meta".into() },
            Member { key: "bob".into(), meta: "bob's meta".into() }
        ]
    );

    bob1.close(1000).await;
    quiet(&mut ann).await; // his other tab is still there
    bob2.close(1000).await;
    expect(&mut ann, "-bob").await;
    assert_eq!(hub.members("r").await.len(), 1);
    ann.close(1000).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !hub.members("r").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the last member's socket closing leaves the room empty");
}

#[tokio::test]
async fn a_listener_that_falls_behind_is_told_to_resync() {
    let hub = Hub::new();
    let mut slow = hub.member_events("r");
    let guards: Vec<_> = (0..300).map(|i| hub.join("r", format!("m{i}"), "")).collect();
    assert_eq!(slow.recv().await, MemberEvent::Resync, "300 changes, 256 buffered");
    assert_eq!(hub.members("r").await.len(), 300);
    drop(guards);
    assert!(hub.members("r").await.is_empty());
    // Rooms are separate; presence is apart from subscribing; a key may be a number.
    let _x = hub.join("other", 7u64, "");
    assert_eq!(hub.members("other").await[0].key, "7");
    assert_eq!(hub.subscribers("other"), 0);
    assert_eq!(hub.members("r").await, []);
}

/// What the hub asks of its backend about presence, and the inbox it was given.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    inbox: Mutex<Option<Inbox>>,
}

/// The hub owns its backend: the test keeps this handle on the same recorder.
#[derive(Clone, Default)]
struct Recording(Arc<Recorder>);

impl std::ops::Deref for Recording {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.0
    }
}

impl Backend for Recording {
    fn start(&self, inbox: Inbox) {
        *self.inbox.lock().unwrap() = Some(inbox);
    }
    fn open(&self, _: &str) {}
    fn close(&self, _: &str) {}
    fn publish(&self, _: &str, _: &Outbound) -> Result<(), BackendError> {
        Ok(())
    }
    fn watch(&self, room: &str) {
        self.calls.lock().unwrap().push(format!("watch {room}"));
    }
    fn unwatch(&self, room: &str) {
        self.calls.lock().unwrap().push(format!("unwatch {room}"));
    }
    fn join(&self, room: &str, key: &str, meta: &str) {
        self.calls.lock().unwrap().push(format!("join {room} {key} {meta}"));
    }
    fn leave(&self, room: &str, key: &str) {
        self.calls.lock().unwrap().push(format!("leave {room} {key}"));
    }
    fn members(&self, room: &str) -> MembersFuture {
        let answer = vec![Member { key: format!("{room}-elsewhere"), meta: String::new() }];
        Box::pin(async move { answer })
    }
}

async fn next(events: &mut MemberEvents) -> MemberEvent {
    tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("an event")
}

#[tokio::test]
async fn members_on_other_instances_count_once_with_this_instances() {
    let rec = Recording::default();
    let hub = Hub::with_backend(HubConfig::default(), rec.clone());
    let inbox = rec.inbox.lock().unwrap().clone().unwrap();
    // A room nobody here follows: the backend is asked.
    assert_eq!(hub.members("quiet").await[0].key, "quiet-elsewhere");

    let mut events = hub.member_events("r");
    let a1 = hub.join("r", "ann", "A");
    assert_eq!(next(&mut events).await, MemberEvent::Joined(Member { key: "ann".into(), meta: "A".into() }));
    // Until the backend has told the others' members, they are asked for.
    assert_eq!(
        hub.members("r").await.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        ["ann", "r-elsewhere"]
    );
    let a2 = hub.join("r", "ann", "A");
    // Another instance (7) already has bob, and ann too.
    let bob = Member { key: "bob".into(), meta: "B".into() };
    inbox.members_are("r", vec![(7, bob.clone()), (7, Member { key: "ann".into(), meta: "A".into() })]);
    assert_eq!(next(&mut events).await, MemberEvent::Joined(bob.clone()));
    assert_eq!(hub.members("r").await.len(), 2);
    // Ann's two connections here leave; she is still on instance 7: no event.
    drop((a1, a2));
    inbox.present("r", 9, "cy", "C");
    assert_eq!(next(&mut events).await, MemberEvent::Joined(Member { key: "cy".into(), meta: "C".into() }));
    inbox.absent("r", 7, "ann");
    assert_eq!(next(&mut events).await, MemberEvent::Left(Member { key: "ann".into(), meta: "A".into() }));
    // Bob's instance goes away: a new read of the others' members no longer has him.
    inbox.members_are("r", vec![(9, Member { key: "cy".into(), meta: "C".into() })]);
    assert_eq!(next(&mut events).await, MemberEvent::Left(bob));
    assert_eq!(inbox.watched(), ["r"]);
    drop(events);
    assert!(inbox.watched().is_empty());
    assert_eq!(
        *rec.calls.lock().unwrap(),
        ["watch r", "join r ann A", "leave r ann", "unwatch r"],
        "one join and one leave for two connections; the room unwatched with its last listener"
    );
}
