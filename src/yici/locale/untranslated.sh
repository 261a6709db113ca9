#!/bin/sh
# Print the entries of each catalogue under this folder that are untranslated or fuzzy,
# then a count per catalogue. Exits 1 if any were found.
# Refresh the catalogue first to see new strings:
#   cd src/yici && ../../.venv/bin/yici makemessages -l zh_Hans --no-obsolete -i 'testing/*' -i '*/tests/*'
# After translating: msgfmt --check -o /dev/null FILE && ../../.venv/bin/yici compilemessages -l zh_Hans
set -u
here=$(cd "$(dirname "$0")" && pwd)
status=0
# msgattrib always repeats the header entry; drop it (paragraph mode, the entry holding "Content-Type:").
noheader() { awk 'BEGIN { RS = ""; ORS = "\n\n" } !(/(^|\n)msgid ""\nmsgstr ""\n/ && /Content-Type:/)'; }
for po in "$here"/*/LC_MESSAGES/*.po; do
    [ -e "$po" ] || continue
    untranslated=$(msgattrib --untranslated --no-obsolete --no-wrap "$po" | noheader)
    fuzzy=$(msgattrib --only-fuzzy --no-obsolete --no-wrap "$po" | noheader)
    if [ -n "$untranslated$fuzzy" ]; then
        status=1
        echo "### ${po#"$here"/}"
        [ -n "$untranslated" ] && printf '# untranslated:\n%s\n\n' "$untranslated"
        [ -n "$fuzzy" ] && printf '# fuzzy:\n%s\n\n' "$fuzzy"
    fi
    printf '%s: ' "${po#"$here"/}" >&2
    msgfmt --check --statistics -o /dev/null "$po" || status=1
done
exit $status
