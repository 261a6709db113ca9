"""Assigning imported rows to areas: from an area-code column, a village (and group) name, or an address."""

import re

from yici.accounts.models import Area, AreaLevel

_SUFFIXES = ("社区", "村委会", "村民委员会", "居委会", "村", "居")
_GROUP = re.compile(r"(\d{1,2})\s*(组|村民小组|网格)")


def _bare(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


class AreaResolver:
    """Looks up area codes by name within one subtree, loaded once per import."""

    def __init__(self, within_prefix: str = ""):
        areas = Area.objects.filter(code__startswith=within_prefix) if within_prefix else Area.objects.all()
        self.villages: dict[str, str] = {}
        self.groups: dict[tuple[str, str], str] = {}
        self.codes: set[str] = set()
        ambiguous: set[str] = set()
        for area in areas.only("code", "name", "level", "parent_id").select_related("parent"):
            self.codes.add(area.code)
            if area.level == AreaLevel.VILLAGE:
                for key in {area.name, _bare(area.name)}:
                    if key in self.villages and self.villages[key] != area.code:
                        ambiguous.add(key)
                    self.villages[key] = area.code
            elif area.level == AreaLevel.GROUP and area.parent is not None:
                number = _GROUP.search(area.name)
                self.groups[(area.parent.code, number.group(1) if number else area.name)] = area.code
        for key in ambiguous:  # the same village name in two townships: names alone cannot decide
            self.villages.pop(key, None)
        # Longest names first, so 樟树村 is tried before 樟树 in an address.
        self._by_length = sorted(self.villages, key=len, reverse=True)

    def village(self, name: str) -> str:
        name = (name or "").strip()
        if not name:
            return ""
        return self.villages.get(name) or self.villages.get(_bare(name), "")

    def group(self, village_code: str, text: str) -> str:
        match = _GROUP.search(text or "")
        if not match or not village_code:
            return ""
        return self.groups.get((village_code, str(int(match.group(1)))), "")

    def from_address(self, address: str) -> str:
        for name in self._by_length:
            if len(name) >= 2 and name in address:
                return self.villages[name]
        return ""

    def resolve(self, values: dict[str, str], entity: str) -> str:
        """The most precise area the row's values name, or ''."""
        for code_element in (f"{entity}.area_code", "person.area_code"):
            code = values.get(code_element, "")
            if code in self.codes:
                return code
        village = values.get(f"{entity}.village") or values.get("person.village", "")
        addresses = [values.get(k, "") for k in (f"{entity}.address", "person.current_address", "person.registered_address")]
        village_code = self.village(village)
        if not village_code:
            for address in addresses:
                if address and (village_code := self.from_address(address)):
                    break
        if not village_code:
            return ""
        grid = values.get("person.grid", "")
        group = self.group(village_code, grid)
        if not group:
            for address in addresses:
                tail = address.split(village, 1)[-1] if village and village in address else address
                if group := self.group(village_code, tail):
                    break
        return group or village_code
