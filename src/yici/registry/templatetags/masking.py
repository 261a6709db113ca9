from django import template

from yici.registry.masking import mask

register = template.Library()


@register.filter
def masked(value, field):
    return mask(field, value or "")
