//! A published catalog: every unit, questionnaire and campaign as of one change, and what is
//! derived from them on first use (each campaign's tree, the peer groups asked for), kept for
//! as long as the snapshot is current.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::campaign::Campaign;
use crate::domain::ids::{CampaignId, QuestionnaireId, UnitId};
use crate::domain::peers::{PeerGroup, peers};
use crate::domain::questionnaire::Questionnaire;
use crate::domain::unit::{Unit, UnitMove, UnitTree};
use crate::error::{Error, Result};

/// The generation the next snapshot gets: every published snapshot has a new one.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Default)]
pub struct Snapshot {
    /// Larger in a later snapshot: what was computed from a snapshot's tree or campaigns is
    /// current while the generation is unchanged.
    pub generation: u64,
    /// The tree as it stands now, archived units included.
    pub units: UnitTree,
    pub questionnaires: HashMap<QuestionnaireId, Arc<Questionnaire>>,
    pub campaigns: HashMap<CampaignId, Arc<Campaign>>,
    /// Every change of a parent, in the order made.
    moves: Arc<Vec<UnitMove>>,
    /// The tree each campaign is read on, made on first use, and whether it is `units`.
    campaign_units: Mutex<HashMap<CampaignId, (UnitTree, bool)>>,
    /// Peer groups asked for, on their campaign's tree, made on first use.
    campaign_peers: Mutex<HashMap<PeersKey, Arc<[Unit]>>>,
}

/// A peer group under a scope, on a campaign's tree.
type PeersKey = (CampaignId, UnitId, PeerGroup);

/// Peer groups kept per snapshot; beyond it they are made afresh. A province's villages are
/// 25,000 units of about 150 bytes.
const PEER_GROUPS_KEPT: usize = 64;

impl Snapshot {
    pub fn campaign(&self, id: &CampaignId) -> Result<&Arc<Campaign>> {
        self.campaigns
            .get(id)
            .ok_or_else(|| Error::not_found("campaign", id.as_str()))
    }

    pub fn questionnaire(&self, id: &QuestionnaireId) -> Result<&Arc<Questionnaire>> {
        self.questionnaires
            .get(id)
            .ok_or_else(|| Error::not_found("questionnaire", id.as_str()))
    }

    pub fn unit(&self, id: &UnitId) -> Result<&Unit> {
        self.units
            .get(id)
            .ok_or_else(|| Error::not_found("unit", id.as_str()))
    }

    /// A campaign with its questionnaire.
    pub fn campaign_with_questionnaire(
        &self,
        id: &CampaignId,
    ) -> Result<(Arc<Campaign>, Arc<Questionnaire>)> {
        let campaign = self.campaign(id)?;
        let questionnaire = self.questionnaire(&campaign.questionnaire_id)?;
        Ok((campaign.clone(), questionnaire.clone()))
    }

    /// The tree `campaign` surveys, ranks and rolls up over: parents as they stood when it
    /// closed (a later move leaves its figures as published), without the units archived
    /// before it was created. Cheap to clone: it shares the snapshot's tree.
    pub fn units_of(&self, campaign: &Campaign) -> UnitTree {
        self.campaign_tree(campaign).0
    }

    /// The units of `group` under `scope` on `campaign`'s tree ([`peers`]): walking a
    /// province's tree for them costs more than ranking them, so each group is walked once per
    /// snapshot.
    pub fn peers_of(&self, campaign: &Campaign, scope: &UnitId, group: &PeerGroup) -> Arc<[Unit]> {
        let key = (campaign.id.clone(), scope.clone(), group.clone());
        let kept = || {
            self.campaign_peers
                .lock()
                .expect("catalog cache lock is never poisoned: nothing panics while holding it")
        };
        if let Some(found) = kept().get(&key) {
            return found.clone();
        }
        let tree = self.units_of(campaign);
        let found: Arc<[Unit]> = peers(&tree, scope, group).into_iter().cloned().collect();
        let mut kept = kept();
        if kept.len() >= PEER_GROUPS_KEPT {
            kept.clear();
        }
        kept.insert(key, found.clone());
        found
    }

    /// Whether the two campaigns are read on the same tree.
    pub fn share_tree(&self, a: &Campaign, b: &Campaign) -> bool {
        a.id == b.id || (self.campaign_tree(a).1 && self.campaign_tree(b).1)
    }

    fn campaign_tree(&self, campaign: &Campaign) -> (UnitTree, bool) {
        let mut cache = self
            .campaign_units
            .lock()
            .expect("catalog cache lock is never poisoned: nothing panics while holding it");
        cache
            .entry(campaign.id.clone())
            .or_insert_with(|| {
                match self
                    .units
                    .as_seen_by(campaign.created_at, campaign.closes_at, &self.moves)
                {
                    Some(tree) => (tree, false),
                    None => (self.units.clone(), true),
                }
            })
            .clone()
    }

    pub(super) fn new(
        units: UnitTree,
        questionnaires: HashMap<QuestionnaireId, Arc<Questionnaire>>,
        campaigns: HashMap<CampaignId, Arc<Campaign>>,
        moves: Arc<Vec<UnitMove>>,
    ) -> Self {
        Self {
            generation: next_generation(),
            units,
            questionnaires,
            campaigns,
            moves,
            campaign_units: Mutex::default(),
            campaign_peers: Mutex::default(),
        }
    }

    /// Records a change of a unit's parent, which the campaigns' trees are read back through.
    pub(super) fn record_move(&mut self, unit_move: UnitMove) {
        Arc::make_mut(&mut self.moves).push(unit_move);
    }

    /// A copy to change and publish; the per-campaign trees are made afresh.
    pub(super) fn next(&self) -> Self {
        Self {
            generation: next_generation(),
            units: self.units.clone(),
            questionnaires: self.questionnaires.clone(),
            campaigns: self.campaigns.clone(),
            moves: self.moves.clone(),
            campaign_units: Mutex::default(),
            campaign_peers: Mutex::default(),
        }
    }
}
