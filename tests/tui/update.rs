//! The app driven through `update` with synthetic events: selection by identity across
//! snapshots, stale engine results dropped, pause, change highlights, filter, commands, probe
//! commands, mouse. No terminal, no runtime, no sleeps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::tui::*;
use crossterm::event::{KeyCode, KeyModifiers, MouseEvent, MouseEventKind};
use kubehop::app::catalog::{CatalogBuilder, Generation};
use kubehop::app::state::{CHANGE_HIGHLIGHT, Focus, Mode};
use kubehop::app::{AppEvent, Command, DetailTab, build_catalog, update};
use kubehop::cluster::ClusterSnapshot;
use kubehop::engine::EngineConfig;
use kubehop::engine::model::ServiceKey;
use kubehop::ui::layout::Areas;

fn key(namespace: &str, name: &str) -> ServiceKey {
    ServiceKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The demo snapshot with every endpoint of shop/web's slices made unready.
fn web_unready(mut snapshot: ClusterSnapshot) -> ClusterSnapshot {
    for slice in &mut snapshot.endpoint_slices {
        let owner = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get("kubernetes.io/service-name"))
            .cloned();
        if slice.metadata.namespace.as_deref() != Some("shop") || owner.as_deref() != Some("web") {
            continue;
        }
        let mut edited = (**slice).clone();
        for endpoint in edited.endpoints.iter_mut().flatten() {
            let conditions = endpoint.conditions.get_or_insert_default();
            conditions.ready = Some(false);
            conditions.serving = Some(false);
        }
        *slice = Arc::new(edited);
    }
    snapshot.generation += 1;
    snapshot
}

#[test]
fn the_first_snapshot_builds_a_model_and_selects_the_worst_service() {
    let state = demo_app(120, 40);
    assert!(state.shown().is_some());
    assert_eq!(state.list.visible.len(), 18);
    assert_eq!(state.list.selected, Some(key("billing", "invoices")));
    assert_eq!(state.list.scope_errors, 7);
    // edge/gateway's eTP Local drops are info behind its health-checked load balancer.
    assert_eq!(state.list.scope_warnings, 2);
}

#[test]
fn selection_and_expansion_survive_a_new_snapshot() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    // Collapse the EndpointSlice node and select it.
    for _ in 0..10 {
        if state
            .selected_node()
            .is_some_and(|node| node.id.starts_with("endpointslice/"))
        {
            break;
        }
        press(&mut state, KeyCode::Char('j'));
    }
    let slice_path = state
        .chain_view()
        .map(|view| view.selected.clone())
        .unwrap_or_default();
    assert!(
        slice_path
            .last()
            .is_some_and(|id| id.starts_with("endpointslice/"))
    );
    press(&mut state, KeyCode::Left);
    assert!(
        state
            .chain_view()
            .is_some_and(|view| view.closed.contains(&slice_path))
    );
    // A new snapshot in which another Service disappears, so every row index shifts.
    let mut snapshot = demo_snapshot();
    snapshot
        .services
        .retain(|service| service.metadata.name.as_deref() != Some("invoices"));
    snapshot.generation = 7;
    apply(&mut state, AppEvent::Snapshot(Arc::new(snapshot)));
    assert_eq!(state.list.visible.len(), 17);
    assert_eq!(state.list.selected, Some(key("shop", "web")));
    let view = state.chain_view().cloned().unwrap_or_default();
    assert_eq!(view.selected, slice_path);
    assert!(view.closed.contains(&slice_path));
}

#[test]
fn a_stale_engine_result_is_dropped() {
    let mut state = demo_app(120, 40);
    let first = Arc::new(web_unready(demo_snapshot()));
    let second = Arc::new(demo_snapshot());
    let commands = update(&mut state, AppEvent::Snapshot(first.clone()));
    let [Command::BuildModel { generation: g1, .. }] = commands.as_slice() else {
        panic!("one build expected, got {commands:?}");
    };
    let g1 = *g1;
    // A newer snapshot while the first build runs: it waits.
    assert!(update(&mut state, AppEvent::Snapshot(second.clone())).is_empty());
    // A result for a generation nobody asked for (an older one) is ignored.
    let stale = build_catalog(
        first.clone(),
        &EngineConfig::default(),
        Generation(g1.0 - 1),
    );
    let shown_before = state.shown().map(|catalog| catalog.generation);
    assert!(
        update(
            &mut state,
            AppEvent::ModelBuilt {
                catalog: Arc::new(stale),
                at: Instant::now()
            }
        )
        .is_empty()
    );
    assert_eq!(
        state.shown().map(|catalog| catalog.generation),
        shown_before
    );
    // The awaited result lands and starts the build of the waiting snapshot.
    let built = build_catalog(first, &EngineConfig::default(), g1);
    let commands = update(
        &mut state,
        AppEvent::ModelBuilt {
            catalog: Arc::new(built),
            at: Instant::now(),
        },
    );
    let [
        Command::BuildModel {
            generation: g2,
            snapshot,
        },
    ] = commands.as_slice()
    else {
        panic!("the waiting snapshot is built next, got {commands:?}");
    };
    assert!(*g2 > g1);
    assert!(Arc::ptr_eq(snapshot, &second));
    assert_eq!(state.shown().map(|catalog| catalog.generation), Some(g1));
}

/// Feeds `snapshot` to the app and answers the build it asks for with `build`'s catalog.
fn built_with(
    state: &mut kubehop::app::state::AppState,
    snapshot: ClusterSnapshot,
    at: Instant,
    build: impl FnOnce(Arc<ClusterSnapshot>, Generation) -> kubehop::app::Catalog,
) -> Arc<kubehop::app::Catalog> {
    let commands = update(state, AppEvent::Snapshot(Arc::new(snapshot)));
    let [
        Command::BuildModel {
            snapshot,
            generation,
        },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    let catalog = Arc::new(build(snapshot.clone(), *generation));
    update(
        state,
        AppEvent::ModelBuilt {
            catalog: catalog.clone(),
            at,
        },
    );
    catalog
}

/// [`built_with`] `builder`'s catalog.
fn built_incrementally(
    state: &mut kubehop::app::state::AppState,
    builder: &mut CatalogBuilder,
    snapshot: ClusterSnapshot,
    at: Instant,
) -> Arc<kubehop::app::Catalog> {
    built_with(state, snapshot, at, |snapshot, generation| {
        builder.build(snapshot, generation)
    })
}

#[test]
fn a_service_an_incremental_update_built_again_is_the_one_highlighted() {
    let mut state = demo_app(120, 40);
    let mut builder = CatalogBuilder::new(&EngineConfig::default());
    let at = Instant::now();
    // Followed object by object: sorted, without NetworkPolicies and Gateway API objects.
    let mut first = kubehop::cluster::synthetic::sorted(demo_snapshot());
    first.network_policies.clear();
    first.gateway_api = Default::default();
    first.generation += 1;
    let before = built_incrementally(&mut state, &mut builder, first.clone(), at);
    state.changed.clear();
    let after = built_incrementally(&mut state, &mut builder, web_unready(first), at);
    // The builder kept every other summary (the check that skips them is exercised).
    let shared = before
        .summaries
        .iter()
        .zip(&after.summaries)
        .filter(|(a, b)| Arc::ptr_eq(a, b))
        .count();
    assert_eq!(shared + 1, after.summaries.len());
    assert_eq!(
        state.changed.keys().collect::<Vec<_>>(),
        vec![&key("shop", "web")]
    );
}

#[test]
fn a_changed_service_is_highlighted_until_the_highlight_fades() {
    let mut state = demo_app(120, 40);
    assert!(state.changed.is_empty());
    let at = Instant::now();
    built_with(
        &mut state,
        web_unready(demo_snapshot()),
        at,
        |snapshot, generation| build_catalog(snapshot, &EngineConfig::default(), generation),
    );
    assert_eq!(
        state.changed.keys().collect::<Vec<_>>(),
        vec![&key("shop", "web")]
    );
    assert!(state.animating(at));
    // shop/web is now broken: its health mark changed on screen.
    let text = screen_text(&render(&state));
    assert!(text.contains("✗ shop/web"), "{text}");
    update(
        &mut state,
        AppEvent::Tick(at + CHANGE_HIGHLIGHT + Duration::from_millis(1)),
    );
    assert!(state.changed.is_empty());
    assert!(!state.animating(at + CHANGE_HIGHLIGHT));
}

#[test]
fn pause_freezes_the_view_while_updates_arrive() {
    let mut state = demo_app(120, 40);
    ctrl(&mut state, 'p');
    assert!(state.paused());
    let frozen = state.shown().map(|catalog| catalog.generation);
    apply(
        &mut state,
        AppEvent::Snapshot(Arc::new(web_unready(demo_snapshot()))),
    );
    assert_eq!(state.shown().map(|catalog| catalog.generation), frozen);
    assert!(state.updates_waiting());
    let text = screen_text(&render(&state));
    assert!(text.contains("paused (updates waiting)"), "{text}");
    assert!(text.contains("✓ shop/web"), "{text}");
    ctrl(&mut state, 'p');
    assert!(!state.paused());
    assert!(screen_text(&render(&state)).contains("✗ shop/web"));
}

#[test]
fn space_on_the_header_pauses() {
    let mut state = demo_app(120, 40);
    // Shift-Tab never lands on the header: it goes round the panes.
    press(&mut state, KeyCode::BackTab);
    assert_eq!(state.focus, Focus::Details);
    // A click on the header focuses it and pauses; Space there resumes.
    click(&mut state, 5, 0);
    assert_eq!(state.focus, Focus::Header);
    assert!(state.paused());
    press(&mut state, KeyCode::Char(' '));
    assert!(!state.paused());
}

#[test]
fn filter_by_substring_and_by_label() {
    let mut state = demo_app(120, 40);
    typed(&mut state, "/mongo");
    assert_eq!(
        state.mode,
        Mode::Filter {
            before: String::new()
        }
    );
    assert_eq!(state.list.visible.len(), 2);
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.mode, Mode::Normal);
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.list.visible.len(), 18);
    // label=value matches the Service's labels or its selector.
    typed(&mut state, "/app=blog");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.list.selected, Some(key("blog", "blog")));
    // Esc while typing restores the previous filter.
    typed(&mut state, "/xyz");
    assert!(state.list.visible.is_empty());
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.filter.text, "app=blog");
}

#[test]
fn namespace_commands() {
    let mut state = demo_app(120, 40);
    typed(&mut state, ":ns edge");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.namespace.as_deref(), Some("edge"));
    assert_eq!(state.list.visible.len(), 3);
    assert!(
        state
            .list
            .selected
            .as_ref()
            .is_some_and(|selected| selected.namespace == "edge")
    );
    typed(&mut state, ":ns all");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.namespace, None);
    assert_eq!(state.list.visible.len(), 18);
}

#[test]
fn context_switch_is_a_command_for_live_sources_and_a_message_for_dumps() {
    let mut state = demo_app(120, 40);
    typed(&mut state, ":ctx prod");
    let commands = press(&mut state, KeyCode::Enter);
    assert!(commands.is_empty());
    let message = state.message.clone().expect("a message");
    assert!(
        message.error && message.text.contains("no contexts in a dump"),
        "{message:?}"
    );
    state.source = kubehop::app::SourceKind::Live;
    typed(&mut state, ":ctx prod");
    let commands = press(&mut state, KeyCode::Enter);
    assert!(matches!(commands.as_slice(), [Command::SwitchContext(name)] if name == "prod"));
    // `:ctx` alone lists the kubeconfig's contexts, the current one starred.
    state.contexts = vec!["dev".to_owned(), "prod".to_owned()];
    state.label.context = "prod".to_owned();
    typed(&mut state, ":ctx");
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    let message = state.message.clone().expect("a message");
    assert_eq!(message.text, "contexts: dev, *prod (:ctx NAME switches)");
    assert!(!message.error);
}

#[test]
fn quit_from_keys_and_commands() {
    let mut state = demo_app(120, 40);
    assert!(matches!(
        press(&mut state, KeyCode::Char('q')).as_slice(),
        [Command::Quit]
    ));
    let mut state = demo_app(120, 40);
    assert!(matches!(ctrl(&mut state, 'c').as_slice(), [Command::Quit]));
    let mut state = demo_app(120, 40);
    typed(&mut state, ":q");
    assert!(matches!(
        press(&mut state, KeyCode::Enter).as_slice(),
        [Command::Quit]
    ));
    // Ctrl-C quits even while typing a filter.
    let mut state = demo_app(120, 40);
    typed(&mut state, "/we");
    assert!(matches!(ctrl(&mut state, 'c').as_slice(), [Command::Quit]));
}

#[test]
fn unknown_commands_say_what_exists() {
    let mut state = demo_app(120, 40);
    typed(&mut state, ":frobnicate");
    press(&mut state, KeyCode::Enter);
    let message = state.message.clone().expect("a message");
    assert!(message.text.contains(":svc, :pods"), "{message:?}");
    assert!(message.text.contains("Ctrl-A lists them"), "{message:?}");
}

#[test]
fn probe_keys_ask_for_a_probe_of_the_hop_or_the_service() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "default/mynodeportservice");
    press(&mut state, KeyCode::Char('j'));
    press(&mut state, KeyCode::Char('j'));
    let commands = press(&mut state, KeyCode::Char('p'));
    let [
        Command::RunProbe {
            service,
            hop: Some(hop),
            ..
        },
    ] = commands.as_slice()
    else {
        panic!("{commands:?}");
    };
    assert_eq!(service, &key("default", "mynodeportservice"));
    assert!(
        hop.to_string()
            .starts_with("default/mynodeportservice#80/TCP/nodePort/node-1/"),
        "{hop}"
    );
    // The run of the hop (still in progress) gives way to the run of the whole Service.
    let commands = press(&mut state, KeyCode::Char('P'));
    assert!(matches!(
        commands.as_slice(),
        [
            Command::CancelProbe { .. },
            Command::RunProbe { hop: None, .. }
        ]
    ));
}

#[test]
fn tabs_and_focus_cycle() {
    let mut state = demo_app(120, 40);
    press(&mut state, KeyCode::Char('3'));
    assert_eq!(state.tab, DetailTab::Dns);
    assert_eq!(state.focus, Focus::Services);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Chain);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Explain);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Details);
    // Round the panes, never onto the header.
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Services);
    press(&mut state, KeyCode::BackTab);
    assert_eq!(state.focus, Focus::Details);
    // h goes back one pane, towards the Services list.
    press(&mut state, KeyCode::Char('h'));
    assert_eq!(state.focus, Focus::Chain);
    press(&mut state, KeyCode::Char('h'));
    assert_eq!(state.focus, Focus::Services);
    press(&mut state, KeyCode::Tab);
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.focus, Focus::Services);
}

#[test]
fn chain_keys_expand_collapse_and_walk_to_the_parent() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "edge/frontend");
    let first = state
        .chain_view()
        .map(|view| view.selected.clone())
        .unwrap_or_default();
    assert_eq!(first, vec!["80/TCP".to_owned()]);
    // Enter on an open port collapses it; → opens it again and then walks into it (so does
    // l, on a hop that is not a pod).
    press(&mut state, KeyCode::Enter);
    assert!(
        state
            .chain_view()
            .is_some_and(|view| view.closed.contains(&first))
    );
    press(&mut state, KeyCode::Char('l'));
    assert!(
        state
            .chain_view()
            .is_some_and(|view| !view.closed.contains(&first))
    );
    press(&mut state, KeyCode::Right);
    let child = state
        .chain_view()
        .map(|view| view.selected.clone())
        .unwrap_or_default();
    assert_eq!(child.len(), 2);
    // ← on a leaf goes to its parent.
    press(&mut state, KeyCode::Left);
    assert_eq!(
        state.chain_view().map(|view| view.selected.clone()),
        Some(first)
    );
    // G goes to the last visible row, g back to the first.
    press(&mut state, KeyCode::Char('G'));
    let (rows, index) = state.chain_rows();
    assert_eq!(index, Some(rows.len() - 1));
    drop(rows);
    press(&mut state, KeyCode::Char('g'));
    assert_eq!(state.chain_rows().1, Some(0));
}

#[test]
fn services_paging_keeps_the_cursor_visible() {
    let mut state = demo_app(80, 24);
    let rows = Areas::compute(ratatui::layout::Rect::new(0, 0, 80, 24)).services_rows();
    press(&mut state, KeyCode::Char('G'));
    assert_eq!(state.list.cursor, 17);
    assert!(state.list.offset + rows > state.list.cursor);
    assert!(state.list.offset <= state.list.cursor);
    press(&mut state, KeyCode::PageUp);
    assert!(state.list.cursor < 17);
    assert!(state.list.offset <= state.list.cursor);
}

#[test]
fn mouse_click_and_wheel_select_services() {
    let mut state = demo_app(120, 40);
    let areas = Areas::compute(ratatui::layout::Rect::new(0, 0, 120, 40));
    let row = areas.services_first_row() + 3;
    click(&mut state, areas.services.x + 3, row);
    assert_eq!(state.list.cursor, 3);
    assert_eq!(state.list.selected, Some(key("docs", "docs")));
    apply(
        &mut state,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: areas.services.x + 3,
            row,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert_eq!(state.list.cursor, 4);
    // A click on a tab title switches the tab.
    let (tab, start, _) = kubehop::ui::layout::tab_title_ranges(areas.details)[4];
    click(&mut state, start + 1, areas.details.y);
    assert_eq!(state.tab, tab);
    assert_eq!(state.focus, Focus::Details);
}

#[test]
fn resize_relayouts_and_keeps_the_selection() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    apply(
        &mut state,
        AppEvent::Resize {
            width: 80,
            height: 24,
        },
    );
    assert_eq!(state.list.selected, Some(key("shop", "web")));
    let rows = Areas::compute(ratatui::layout::Rect::new(0, 0, 80, 24)).services_rows();
    assert!(state.list.cursor < state.list.offset + rows);
    assert!(screen_text(&render(&state)).contains("Chain shop/web"));
}

#[test]
fn redraw_only_when_something_changed() {
    let mut state = demo_app(120, 40);
    state.dirty = false;
    // A release (some terminals report them) changes nothing.
    apply(
        &mut state,
        AppEvent::Key(crossterm::event::KeyEvent::new_with_kind(
            KeyCode::Char('j'),
            crossterm::event::KeyModifiers::NONE,
            crossterm::event::KeyEventKind::Release,
        )),
    );
    assert!(!state.dirty, "a key release changes nothing");
    apply(
        &mut state,
        AppEvent::Status(kubehop::cluster::feed::ConnectionStatus::Static),
    );
    assert!(!state.dirty, "the same status changes nothing");
    press(&mut state, KeyCode::Char('j'));
    assert!(state.dirty);
}

#[test]
fn reconnecting_status_is_shown_as_stale() {
    let mut state = demo_app(160, 40);
    let since = std::time::UNIX_EPOCH + Duration::from_secs(12 * 3600 + 3 * 60 + 4);
    apply(
        &mut state,
        AppEvent::Status(kubehop::cluster::feed::ConnectionStatus::Reconnecting {
            since,
            error: "connection refused".to_owned(),
        }),
    );
    let text = screen_text(&render(&state));
    assert!(
        text.contains("reconnecting since 12:03:04 UTC (connection refused) · stale"),
        "{text}"
    );
}

#[test]
fn missing_kinds_are_noted() {
    let mut snapshot = demo_snapshot();
    snapshot.services.clear();
    snapshot.missing.push(kubehop::cluster::MissingKind {
        kind: kubehop::cluster::ResourceKind::Service,
        reason: "forbidden: cannot list services at cluster scope".to_owned(),
    });
    let state = app_with(snapshot, 120, 40);
    let text = screen_text(&render(&state));
    assert!(text.contains("No Services in this source."), "{text}");
    assert!(text.contains("Note: services: forbidden"), "{text}");
    assert!(text.contains("1 kind missing"), "{text}");
}

#[test]
fn source_notes_and_help_scroll() {
    let mut state = demo_app(80, 24);
    state.notes = vec!["skipped 1 Deployment (apps/v1) object in demo-all.yaml".to_owned()];
    press(&mut state, KeyCode::Char('2'));
    // Services → Chain → Explain → Details.
    press(&mut state, KeyCode::Tab);
    press(&mut state, KeyCode::Tab);
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Details);
    press(&mut state, KeyCode::Char('G'));
    let text = screen_text(&render(&state));
    assert!(text.contains("Note: skipped 1 Deployment"), "{text}");
    // The help overlay scrolls where it does not fit.
    press(&mut state, KeyCode::Char('?'));
    assert_eq!(state.mode, Mode::Help { scroll: 0 });
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.mode, Mode::Help { scroll: 1 });
    assert!(screen_text(&render(&state)).contains("j/k scroll"));
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.mode, Mode::Normal);
}

/// Every hop of every demo Service gets a short explanation in whole sentences, and the
/// values in it are the hop's own.
#[test]
fn every_hop_of_the_demo_is_explained_in_a_few_sentences() {
    let state = demo_app(120, 40);
    let catalog = state.shown().cloned().expect("a model");
    let mut explained = 0;
    for chain in &catalog.model.services {
        let outline = kubehop::app::chain::outline(chain);
        let mut hops: Vec<Option<kubehop::engine::model::Hop>> = vec![None];
        fn walk(
            nodes: &[kubehop::app::chain::OutlineNode],
            out: &mut Vec<Option<kubehop::engine::model::Hop>>,
        ) {
            for node in nodes {
                if let Some(hop) = &node.hop {
                    out.push(Some(hop.clone()));
                }
                walk(&node.children, out);
            }
        }
        walk(&outline.roots, &mut hops);
        for hop in hops {
            let explanation =
                kubehop::engine::explain::explain_hop(&catalog.model, chain, hop.as_ref());
            let count = explanation.sentences.len();
            assert!(
                (1..=5).contains(&count),
                "{}/{} {hop:?}: {explanation:?}",
                chain.namespace,
                chain.name
            );
            for sentence in &explanation.sentences {
                assert!(sentence.ends_with('.'), "{sentence:?}");
                assert!(sentence.len() > 20, "{sentence:?}");
            }
            if let Some(kubehop::engine::model::Hop::NodePort { address, .. }) = &hop {
                assert!(
                    explanation.text().contains(&address.to_string()),
                    "{explanation:?}"
                );
            }
            if std::env::var_os("SHOW_EXPLAIN").is_some() {
                println!(
                    "{}/{} {hop:?}\n  {}",
                    chain.namespace,
                    chain.name,
                    explanation.text()
                );
            }
            explained += 1;
        }
    }
    assert!(explained > 60, "{explained}");
}
