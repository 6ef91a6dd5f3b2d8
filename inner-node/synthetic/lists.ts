// Word lists for the synthetic county (Funan county, Fuyang, Anhui, and its neighbours). Weights are
// rough shapes, not statistics. Lists are written as space-separated strings to keep them compact.

type Weighted = readonly (readonly [string, number])[];

/** 'a:3 b:1' -> [['a', 3], ['b', 1]] */
function weighted(spec: string): Weighted {
  return spec
    .trim()
    .split(/\s+/)
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      return [entry.slice(0, at), Number(entry.slice(at + 1))] as const;
    });
}

const words = (spec: string): readonly string[] => spec.trim().split(/\s+/);

/**
 * Region codes that appear as the first six digits of resident IDs, with weights. Funan (341225)
 * dominates; the rest are neighbours: 阜阳市颍州区 341202, 颍东区 341203, 颍泉区 341204, 临泉县 341221,
 * 太和县 341222, 颍上县 341226, 六安市霍邱县 341522, 河南省信阳市固始县 411525 and 淮滨县 411527.
 */
export const ID_REGIONS = weighted(
  '341202:2 341203:1 341204:2 341221:4 341222:2 341225:76 341226:5 341522:3 411525:2 411527:3',
);

/** Surnames with rough weights (common Anhui/Henan surnames, a few compound ones, and the rare 𠮷). */
export const SURNAMES = weighted(`
  王:80 李:78 张:76 刘:60 陈:48 杨:34 黄:20 赵:26 吴:20 周:20 徐:18 孙:16 马:14 朱:14 胡:14 郭:12 何:10
  高:12 林:6 罗:6 郑:8 梁:6 谢:6 宋:8 唐:6 许:8 韩:8 冯:6 邓:5 曹:7 彭:4 曾:3 肖:5 田:6 董:6 袁:5 潘:4
  于:5 蒋:4 蔡:4 余:4 杜:5 叶:3 程:5 苏:4 魏:5 吕:4 丁:5 任:4 沈:3 姚:3 卢:3 姜:3 崔:3 钟:2 谭:2 陆:2
  汪:3 范:3 金:2 石:3 廖:2 贾:3 夏:3 付:3 方:3 白:2 邹:2 孟:3 熊:2 秦:2 邱:2 江:2 尹:2 薛:2 闫:3 段:2
  雷:2 侯:2 龙:1 史:2 陶:2 贺:2 顾:1 毛:2 郝:2 邵:2 常:2 欧阳:0.4 诸葛:0.2 司马:0.2 上官:0.2 𠮷:0.3
`);

/** Characters for given names, by the sex they are mostly given to, and for either. */
export const GIVEN_MALE = [...'伟强军磊勇杰涛斌超明辉刚健峰波鹏华飞浩宇晨俊凯亮建国平志东海林文龙成春生兵'];
export const GIVEN_FEMALE = [...'芳娟敏静丽艳娜霞秀英玲红梅燕萍颖慧婷倩雪琳佳欣怡晶丹莉兰凤云洁琴雯月'];
export const GIVEN_ANY = [...'子一思嘉宏乐安家文晓新永金德正'];

/**
 * Rare characters for a few percent of given names. 堃 喆 昇 淼 燊 are in GBK (two bytes in GB18030);
 * 䶮 (CJK Extension A) is two bytes (FE9F) under the GB18030-2022 mapping that Node's decoder uses
 * (it was four bytes under GB18030-2005). The characters outside the BMP (𠮷 𬣙 𫖯 𬘡 𬌗) are always
 * four bytes in GB18030.
 */
export const RARE_GIVEN = [...'堃喆昇淼燊䶮'];
export const RARE_GIVEN_ASTRAL = ['𠮷', '𬣙', '𫖯', '𬘡', '𬌗'];

/** Towns (乡镇) of Funan county; the first, the county seat 鹿城镇, holds most urban households. */
export const TOWNS = words(`
  鹿城镇 会龙镇 王家坝镇 朱寨镇 焦陂镇 方集镇 中岗镇 柴集镇 新村镇 段郢乡 公桥乡 王堰镇 地城镇 洪河桥镇
  黄岗镇 苗集镇 于集乡 老观乡 郜台乡 曹集镇 田集镇 许堂乡 赵集镇 龙王乡 张寨镇 三塔镇
`);
export const VILLAGE_SUFFIXES = [...'庄寨楼集湾营岗郢圩店台'];
export const URBAN_ROADS = words(
  '淮河路 三河路 人民路 城关路 地城路 鹿城大道 解放路 团结路 和平路 富强路 东城路 幸福路',
);
export const ESTATES = words('阳光小区 金色家园 淮河花园 盛世华庭 幸福里 书香苑 东方明珠 丽景湾 滨河苑');

export const MOBILE_PREFIXES = words(`
  130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 177 180 181 182 183 186
  187 188 189 191 198 199
`);

/** Trade names (字号) and trades for employers and enterprises. */
export const TRADE_NAMES = words(`
  华泰 鑫源 恒达 金鹏 宏远 瑞丰 润泽 永兴 皖北 淮上 鹿城 众诚 盛华 天元 顺发 利民 兴农 绿源 佳禾 宏图 新星
  嘉和 安泰 福润 长青 益农 裕丰 聚鑫 明珠 东升
`);
export const TRADES = words(
  '柳编工艺品 食品 服装 建材 农业科技 商贸 电子 物流 建筑工程 纺织 机械制造 家具 医药 米业 畜牧养殖 农机',
);
export const SHOP_TRADES = words('便利店 超市 餐馆 五金店 服装店 农资店 理发店 修车铺 早餐店 水果店');
export const COOP_PRODUCTS = words('蔬菜 水稻 小麦 芡实 杞柳 大豆 生猪 肉牛 水产 中药材');
/** Public employers that pay contributions for civil servants, teachers and medical staff. */
export const PUBLIC_EMPLOYERS = words(`
  阜南县人民医院 阜南县第一中学 阜南县实验小学 阜南县人民政府办公室 阜南县财政局 阜南县教育局 阜南县中医院
  国网阜南县供电公司 阜南县自来水公司 安徽阜南农村商业银行
`);

/** Vehicle type codes (GA 24.4) with brands/models that fit them. */
export const VEHICLE_MODELS: Readonly<Record<string, readonly string[]>> = {
  K33: words('大众朗逸 丰田卡罗拉 本田雅阁 比亚迪秦PLUS 吉利帝豪 日产轩逸 别克英朗 特斯拉Model3 宝马325Li'),
  K31: words('五菱宏光 哈弗H6 长安CS75 比亚迪宋PLUS 吉利博越 大众途观L 理想L6 别克GL8'),
  H31: words('福田奥铃 江淮帅铃 五菱荣光 长安跨越王 解放J6F'),
  N11: words('时风三轮汽车 五征三轮汽车 巨力三轮汽车'),
  M22: words('豪爵摩托 五羊本田 嘉陵摩托 雅马哈天剑'),
};

/** Vehicle type weights for urban (HKXZ 1) and rural (HKXZ 2) owners. */
export const VEHICLE_TYPES_URBAN = weighted('K33:55 K31:35 H31:5 M22:5');
export const VEHICLE_TYPES_RURAL = weighted('K33:25 K31:35 H31:15 N11:15 M22:10');

/** Ethnicity codes (GB 3304): Han overwhelmingly, Hui the largest minority in the area. */
export const ETHNICITIES = weighted('01:985 03:10 11:2 08:1 06:1 04:0.5 02:0.5');
