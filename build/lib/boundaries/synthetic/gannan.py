"""What the demo takes from the real Gannan: the shipped county outlines, township list and
GeoNames places, and the hand-made (partly invented) tables that describe each county."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from boundaries.crs import geometry_to_wgs84

DATA_DIR = Path(__file__).parents[1] / "data"
PREFECTURE_CODE = "623000"
PREFECTURE_NAME = "甘南藏族自治州"
FULL_HOUSEHOLDS, FULL_GRIDS, FULL_GROUPS, FULL_PEOPLE = 206_400, 959, 8_626, 691_800


@dataclass(frozen=True)
class Profile:
    seat_place: str | None  # the GeoNames place at the county seat
    seat_lonlat: tuple[float, float] | None  # only where GeoNames has no place (碌曲)
    seat_townships: tuple[str, ...]  # the townships seated in the county town
    life: str  # "farming", "mixed", "semi_pastoral", "pastoral"
    tibetan: float  # share of Tibetan personal names (the rest Han/Hui)
    hui: float  # share of the other household heads surnamed 马 (Hui)
    per_village: float  # relative households per village (invented weight)


PROFILES: dict[str, Profile] = {
    "623001": Profile("Hezuo", None, ("当周街道", "伊合昂街道", "坚木克尔街道", "通钦街道"),
                      "semi_pastoral", 0.7, 0.25, 1.0),
    "623021": Profile("Lintan Chengguanzhen", None, ("城关镇",), "farming", 0.2, 0.25, 1.0),
    "623022": Profile("Liulin", None, ("柳林镇",), "mixed", 0.6, 0.25, 1.0),
    "623023": Profile("Zhouqu Chengguanzhen", None, ("城关镇",), "farming", 0.35, 0.05, 0.75),
    "623024": Profile("Dianga", None, ("电尕镇",), "mixed", 0.75, 0.05, 1.05),
    "623025": Profile("Nyinma", None, ("尼玛镇",), "pastoral", 0.9, 0.05, 1.5),
    # 碌曲: no GeoNames place; the seat 玛艾镇 is put near the county town's approximate position.
    "623026": Profile(None, (102.49, 34.59), ("玛艾镇",), "pastoral", 0.9, 0.05, 1.45),
    "623027": Profile("Labrang", None, ("拉卜楞镇",), "pastoral", 0.8, 0.05, 1.35),
}

# GeoNames romanised names read as township names (hand-made table). Unmatched places
# become extra settlements; unmatched townships get a generated seat.
PLACE_TOWNSHIP: dict[str, dict[str, str]] = {
    "623001": {"Kajiaman": "卡加曼乡", "Lexiu": "勒秀镇", "Zuogaimanma": "佐盖曼玛镇",
               "Kajiadao": "卡加道乡", "Nawu": "那吾镇", "Zuogaiduoma": "佐盖多玛乡"},
    "623021": {"Lintan Chengguanzhen": "城关镇", "Yeliguan": "冶力关镇", "Yangsha": "羊沙镇",
               "Xincheng": "新城镇", "Sancha": "三岔乡", "Dianzi": "店子镇", "Guzhan": "古战镇",
               "Changchuan": "长川乡", "Zhuolu": "卓洛乡", "Shimen": "石门乡",
               "Yangyong": "羊永镇", "Chubu": "术布乡", "Liushun": "流顺镇", "Bajiao": "八角镇"},
    "623022": {"Liulin": "柳林镇", "Mu'er": "木耳镇", "Niba": "尼巴镇", "Qiagai": "恰盖乡",
               "Shencang": "申藏镇", "Zangbawa": "藏巴哇镇", "Shaowa": "杓哇土族乡",
               "Daogao": "刀告乡", "Nalang": "纳浪镇", "Kangduo": "康多乡", "Wanmao": "完冒镇"},
    "623023": {"Zhouqu Chengguanzhen": "城关镇", "Gongba": "拱坝镇", "Fengdie": "峰迭镇",
               "Quwa": "曲瓦乡", "Bazang": "巴藏镇", "Lijie": "立节镇", "Dayu": "大峪镇",
               "Hanban": "憨班镇", "Pingding": "坪定镇", "Jiangpan": "江盘镇",
               "Dachuan": "大川镇", "Nanyu": "南峪乡", "Wuping": "武坪镇", "Chagang": "插岗乡",
               "Baleng": "八楞乡", "Boyu": "博峪镇"},
    "623024": {"Lazi": "腊子口镇", "Luoda": "洛大镇", "Sangba": "桑坝乡", "Dianga": "电尕镇",
               "Yiwa": "益哇镇", "Wangcang": "旺藏镇", "Ni'ao": "尼傲乡", "Kaba": "卡坝乡"},
    "623025": {"Nyinma": "尼玛镇", "Qihama": "齐哈玛镇", "Oula": "欧拉镇", "Maima": "曼日玛镇",
               "Cairima": "采日玛镇", "Awancang": "阿万仓镇", "Oula Xiuma": "欧拉秀玛乡",
               "Muxihe": "木西合乡"},
    "623026": {},
    "623027": {"Sangke": "桑科镇", "Wangge'ertang": "王格尔塘镇", "Labrang": "拉卜楞镇",
               "Ganjia": "甘加镇", "Damai": "达麦乡", "Tangga'an": "唐尕昂乡", "Madang": "麻当镇",
               "Qu'ao": "曲奥乡"},
}


def load_counties() -> dict[str, dict]:
    """County rows (name, geometry) by adcode, the outline converted GCJ-02 → WGS84."""
    with open(DATA_DIR / "gannan_counties_gcj02.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    geoms = shapely.from_geojson([json.dumps(ft["geometry"]) for ft in features])
    wgs = np.asarray(geometry_to_wgs84(geoms, "gcj02"))
    return {
        ft["properties"]["adcode"]: {"name": ft["properties"]["name"], "geometry": g}
        for ft, g in zip(features, wgs, strict=True)
    }


def load_townships() -> list[dict]:
    """The 102 township-level units of the shared list, with their number of villages."""
    with open(DATA_DIR / "gannan_townships_list.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["n_villages"] = int(r.pop("n_villages_or_communities"))
    return rows


def load_places() -> list[dict]:
    """GeoNames populated places: romanised name, county adcode, (lon, lat)."""
    with open(DATA_DIR / "gannan_geonames_places.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    return [
        {
            "name": ft["properties"]["name_geonames"],
            "county": ft["properties"]["county_adcode"],
            "lonlat": tuple(ft["geometry"]["coordinates"]),
        }
        for ft in features
    ]
