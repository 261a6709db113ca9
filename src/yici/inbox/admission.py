"""Admission rules: what a task must name, and what it may not ask of a village cadre.

``detect_demands`` finds the demands the 2024 rules on 基层减负 (《关于防止形式主义、官僚主义
加重基层负担的若干规定》) and the 2026 rules on government apps forbid: screenshots or photos as
proof of work, 打卡/签到/接龙, time online, ranking by likes, votes, installs or points. A sender
declares them (``Task.demands``); the title and instructions are also searched for the words that
give them away, so an undeclared demand is still caught. Such a task waits for the burden office.
"""

from yici.inbox.models import Demand

# Words (Chinese and English) that show a forbidden demand in a title or instructions.
DEMAND_WORDS: dict[str, tuple[str, ...]] = {
    Demand.PHOTO_PROOF: ("截图", "截屏", "拍照", "照片", "留痕照", "佐证照", "screenshot", "photo"),
    Demand.CHECK_IN: ("打卡", "签到", "接龙", "check in", "check-in", "sign in"),
    Demand.ONLINE_TIME: ("在线时长", "在线时间", "学习时长", "登录时长", "time online", "online time"),
    Demand.RANKING: ("点赞", "投票", "下载量", "安装量", "装机量", "积分排名", "排名", "刷积分",
                     "likes", "votes", "installs", "ranking"),
}


def detect_demands(*, declared: list[str], text: str) -> list[str]:
    """The forbidden demands of a task: those declared and those its text gives away, in a fixed order."""
    lowered = text.lower()
    found = {d for d in declared if d in Demand.values}
    for demand, words in DEMAND_WORDS.items():
        if any(w in lowered for w in words):
            found.add(demand)
    return [d for d in Demand.values if d in found]
