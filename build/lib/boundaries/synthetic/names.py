"""Invented names and numbers: personal, village and community names, road names for
addresses, and mobile phone numbers."""

from __future__ import annotations

import numpy as np


def _words(text: str) -> np.ndarray:
    return np.array(text.split())


_TIBETAN = _words(
    "扎西 卓玛 才让 多杰 拉毛 德吉 旦增 索南 尼玛 次仁 桑杰 更登 贡保 完玛 道吉 措毛 拉姆 吉毛 "
    "加措 仁青 东珠 切吉 卓嘎 华旦 才旦 周毛 当周 罗藏 班玛 杨本 达瓦 格桑 久美 昂青 嘉措 卓尕 "
    "才吉 万德 尕藏 丹正 南杰 李毛 曲珍 拉加 公保 角巴 道智 宗吉 娘吉 完德 闹日 夏吾 旦知 卓科 "
    "多拉 斗改 草毛 仁增"
)
_SURNAMES = np.array(list(
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾田董袁潘蒋蔡余杜叶程苏魏"
    "吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万严武戴莫孔汤敏包"
))
_GIVEN = _words(
    "建国 建军 国庆 志强 志明 海涛 海燕 玉兰 秀英 桂英 春梅 丽 敏 静 军 伟 勇 强 磊 洋 艳 娟 "
    "霞 芳 红 明 平 刚 杰 涛 斌 辉 鹏 华 英 文 兰 永福 永强 成龙 德明 学军 小军 小红 晓东 晓燕 "
    "福林 有才 生华 文斌 忠 义 俊 梅 花 燕 金花 玉梅 占林 保平 维新 尚文 进财 海龙 小平 永红 "
    "雪梅 旭东 佳 悦 浩 宇 欣怡 子豪 梓涵"
)
_TIB_SYLL = np.array(list(
    "尕秀扎油加拉卡德合茂当周勒吉仓克莫多尔香告那吾格达久唐昂麻玛曲阿木赛贡巴洛日完冒措琼桑科智藏"
    "哇隆沙尼傲旦知亥西卓杂娘让宁卜塔坎则江囊热"
))
_HAN_POS = np.array(list("上下中东西南北新大小前后沙石杨李王马张刘红白黑古高阳柳杏水"))
_HAN_MID = np.array(list("河石沙阳柳杏桦松泉水草峡家堡山湾"))
_HAN_END = np.array(list("庄沟坪湾坡山川坝岔寨滩河峪台岭堡门"))
_COMMUNITY = _words(
    "格桑 香巴拉 金色 团结 幸福 和谐 当周 东风 民主 人民 雪域 安多 吉祥 德吉 扎西 玛尼 红星 新城 "
    "东城 西城 南城 北城 建设 和平 阳光 滨河 广场 胜利 光明 友谊"
)
ROADS = _words(
    "人民 团结 当周 格桑 卡加 香巴拉 民主 解放 新华 建设 滨河 迎宾 环城 东环 西环 南滨 北山 体育 "
    "文化 商贸"
)
_PHONE_PREFIX = _words(
    "138 139 135 136 137 150 151 152 157 158 159 187 188 130 131 132 155 156 185 186 133 153 "
    "180 189 177 199"
)


def community_names(rng, n: int) -> list[str]:
    """`n` different community (社区) names."""
    return [x + "社区" for x in rng.choice(_COMMUNITY, n, replace=False)]


def village_names(rng, n: int, tibetan: float, taken: set[str]) -> list[str]:
    """`n` village (村) names not in `taken` (which gains them): Tibetan-sounding with
    probability `tibetan`, else Han (a family's 家 + place word, or a place-word triple)."""
    out = []
    while len(out) < n:
        if rng.random() < tibetan:
            k = int(rng.integers(2, 4))
            name = "".join(rng.choice(_TIB_SYLL, k))
        elif rng.random() < 0.4:
            name = rng.choice(_SURNAMES) + "家" + rng.choice(_HAN_END)
        else:
            name = rng.choice(_HAN_POS) + rng.choice(_HAN_MID) + rng.choice(_HAN_END)
        if name not in taken:
            taken.add(name)
            out.append(name + "村")
    return out


def person_names(rng, n: int, tibetan: float, hui: float) -> np.ndarray:
    """`n` personal names: Tibetan (one or two names) with probability `tibetan`, else a Han
    surname and given name, the surname 马 with probability `hui`."""
    tib = rng.random(n) < tibetan
    first = _TIBETAN[rng.integers(0, len(_TIBETAN), n)]
    second = _TIBETAN[rng.integers(0, len(_TIBETAN), n)]
    two = (rng.random(n) < 0.55) & (first != second)
    tib_name = np.where(two, np.char.add(first, second), first)
    sur = _SURNAMES[rng.integers(0, len(_SURNAMES), n)]
    sur = np.where(rng.random(n) < hui, "马", sur)
    han = np.char.add(sur, _GIVEN[rng.integers(0, len(_GIVEN), n)])
    return np.where(tib, tib_name, han)


def phones(rng, n: int, series: int) -> np.ndarray:
    """Unique synthetic mobile numbers; their 4-digit block (40 blocks from 6000 + 40 ×
    `series`) keeps counties, and households from staff, apart."""
    got = np.empty(0, np.int64)
    while len(got) < n:
        more = rng.integers(0, len(_PHONE_PREFIX) * 40 * 10_000, 2 * n - len(got) + 16)
        got = np.concatenate([got, more])
        _, first = np.unique(got, return_index=True)
        got = got[np.sort(first)]
    got = got[:n]
    prefix = _PHONE_PREFIX[got // 400_000]
    block = 6_000 + series * 40 + (got // 10_000) % 40
    serial = got % 10_000
    return np.char.add(np.char.add(prefix, block.astype(str)), np.char.zfill(serial.astype(str), 4))
