//! The demo city: its townships and sub-district offices with the standing each is meant to
//! have in the two rounds, its villages and communities, and its municipal departments.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::proto::v1::UnitKind;

/// A township or sub-district office and where the demo means it to stand.
pub struct Township {
    /// The id's tail, after the prefix.
    pub slug: &'static str,
    pub name: &'static str,
    pub kind: UnitKind,
    /// Intended composite rank among the 20 in round 1 and round 2 (1 = best).
    pub round1_rank: u32,
    pub round2_rank: u32,
}

const fn town(slug: &'static str, name: &'static str, r1: u32, r2: u32) -> Township {
    Township {
        slug,
        name,
        kind: UnitKind::Township,
        round1_rank: r1,
        round2_rank: r2,
    }
}

const fn office(slug: &'static str, name: &'static str, r1: u32, r2: u32) -> Township {
    Township {
        kind: UnitKind::Subdistrict,
        ..town(slug, name, r1, r2)
    }
}

/// 东山办事处 rises 13 places, 金薮乡 8 and 金石镇 7; 中沙镇 falls 13 into the bottom five;
/// 毛田镇, 龙洞镇, 棋梓镇 and 月山镇 stay in the bottom five in both rounds. 潭市镇 and 山枣镇
/// answer alike in round 2 and tie ([`ROUND2_TWINS`]); 育塅乡's round-2 fieldwork is behind
/// ([`ROUND2_SHORT`]), so it is reported below the minimum sample and not ranked.
pub const TOWNSHIPS: [Township; 20] = [
    office("wangchunmen", "望春门办事处", 1, 1),
    town("zhongsha", "中沙镇", 2, 15),
    office("xinxianglu", "新湘路办事处", 3, 5),
    town("yutang", "虞唐镇", 4, 6),
    town("meiqiao", "梅桥镇", 5, 7),
    office("kunlunqiao", "昆仑桥办事处", 6, 8),
    town("tanshi", "潭市镇", 7, 9),
    town("shanzao", "山枣镇", 8, 9),
    town("fanjiang", "翻江镇", 9, 11),
    town("jinshi", "金石镇", 10, 3),
    town("quantang", "泉塘镇", 11, 12),
    town("jinsou", "金薮乡", 12, 4),
    town("dongjiao", "东郊乡", 13, 13),
    town("yuduan", "育塅乡", 14, 14),
    office("dongshan", "东山办事处", 15, 2),
    town("hutian", "壶天镇", 16, 14),
    town("maotian", "毛田镇", 17, 16),
    town("longdong", "龙洞镇", 18, 17),
    town("qizi", "棋梓镇", 19, 18),
    town("yueshan", "月山镇", 20, 19),
];

/// Round 2 gives the second township of this pair the very answers of the first: a tie.
pub const ROUND2_TWINS: (&str, &str) = ("tanshi", "shanzao");
/// The township whose round-2 sample stays below the minimum.
pub const ROUND2_SHORT: &str = "yuduan";
/// The department whose round-2 sample stays below the minimum.
pub const ROUND2_SHORT_DEPARTMENT: &str = "xinfang";

/// The composite a township is meant to score at a rank: a steady slope through the middle of
/// the table and wider gaps at the bottom, so that the bottom five survive sampling noise.
pub fn target_score(rank: u32) -> f64 {
    match rank {
        0..=14 => 91.0 - 0.9 * f64::from(rank.saturating_sub(1)),
        15 => 76.5,
        16 => 73.0,
        17 => 71.5,
        18 => 70.0,
        19 => 68.5,
        _ => 67.0,
    }
}

/// Municipal departments (市直单位), ranked among themselves, with their intended composites.
pub const DEPARTMENTS: [(&str, &str, f64, f64); 10] = [
    ("gonganju", "市公安局", 84.0, 86.5),
    ("fayuan", "市法院", 82.0, 80.5),
    ("jianchayuan", "市检察院", 83.0, 84.0),
    ("sifaju", "市司法局", 80.0, 82.5),
    ("xinfang", "市信访局", 74.0, 77.0),
    ("minzhengju", "市民政局", 81.0, 78.0),
    ("jiaoyuju", "市教育局", 85.0, 83.0),
    ("weijianju", "市卫健局", 78.0, 81.5),
    ("renshiju", "市人社局", 79.0, 76.0),
    ("zhujianju", "市住建局", 76.0, 75.0),
];

/// Stems of village and community names as they recur across Hunan's counties.
const STEMS: [&str; 48] = [
    "金星", "石门", "红旗", "新民", "东风", "建设", "和平", "团结", "光明", "胜利", "长青", "白鹤",
    "青山", "龙泉", "花桥", "杨柳", "荷塘", "桃源", "梅林", "竹山", "双江", "大坪", "高峰", "新华",
    "向阳", "五星", "联合", "三湘", "清水", "油田", "棉花", "太平", "万福", "永丰", "洪山", "燕子",
    "金桥", "银湖", "湖山", "朝阳", "泉湖", "望江", "枫树", "楠竹", "百合", "牛角", "狮子", "凤形",
];

/// A village or community of a township.
pub struct Village {
    pub slug: String,
    pub name: String,
    pub kind: UnitKind,
    /// Its composite relative to its township's.
    pub offset: f64,
}

/// `count` villages (or, under a sub-district office, communities) with distinct names; a
/// township's seat is a community too.
pub fn villages(township: &Township, count: usize, rng: &mut impl Rng) -> Vec<Village> {
    let mut stems = STEMS.to_vec();
    stems.shuffle(rng);
    stems
        .into_iter()
        .take(count)
        .enumerate()
        .map(|(i, stem)| {
            let community = township.kind == UnitKind::Subdistrict || i == 0;
            Village {
                slug: format!("{:02}", i + 1),
                name: format!("{stem}{}", if community { "社区" } else { "村" }),
                kind: if community {
                    UnitKind::Community
                } else {
                    UnitKind::Village
                },
                offset: super::generate::normal(rng) * 3.0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_ranks_are_a_permutation_with_the_designed_tie_and_gap() {
        let mut round1: Vec<u32> = TOWNSHIPS.iter().map(|t| t.round1_rank).collect();
        round1.sort_unstable();
        assert_eq!(round1, (1..=20).collect::<Vec<_>>());
        let rank = |slug: &str| {
            TOWNSHIPS
                .iter()
                .find(|t| t.slug == slug)
                .map(|t| t.round2_rank)
        };
        assert_eq!(rank(ROUND2_TWINS.0), rank(ROUND2_TWINS.1));
        assert!(rank(ROUND2_SHORT).is_some());
    }
}
