"""The library's errors, said in the command line's words.

The library's messages name its arguments (`overwrite=True`,
`learning_rate must be ...`); a command-line user needs the flags
(`--overwrite`, `--lr must be ...`). `in_flags` rewrites an argument's name
into the flag of the command that has it: the flag whose destination is
that name, or the command's alias for it: in `name=value`, before "must
be", and wherever a name with an underscore stands alone. Names the command
has no flag for are left as they are.
"""

import re

# Library argument -> the command's option destination, where they differ.
ALIASES = {
    "train": {"learning_rate": "lr", "out_dir": "out"},
    "finetune": {"learning_rate": "lr", "fine_tune_learning_rate": "fine_tune_lr", "fine_tune_epochs": "epochs",
                 "out_dir": "out"},
    "export": {"num_threads": "threads", "out_dir": "out"},
    "predict": {"num_threads": "threads", "k": "top_k"},
    "tune": {"out_dir": "out", "export_formats": "export"},
    "summary": {},
}

# Options whose "None" (off) is spelled -1 on the command line.
NONE_AS = {"--min-quantized-agreement": "-1", "--max-quantized-accuracy-drop": "-1"}


def in_flags(message, parser, command):
    """`message` with the library's argument names replaced by `command`'s flags."""
    options = _options(parser, command)
    if not options:
        return message
    names = sorted(options, key=len, reverse=True)
    pattern = "|".join(re.escape(name) for name in names)

    def assignment(match):
        flag, value = options[match.group(1)], match.group(2)
        if value == "None" and flag in NONE_AS:
            value = NONE_AS[flag]
        return flag if value == "True" else f"{flag} {value}"

    flag_of = lambda match: options[match.group(1)]  # noqa: E731
    message = re.sub(rf"(?<![\w./\\-])({pattern})=(True|-?[\w.,\[\]'/-]+)", assignment, message)
    message = re.sub(rf"(?<![\w./\\-])({pattern})(?= must be| may )", flag_of, message)
    # Other mentions of a name with an underscore (out_dir, skip_bad_files): a code name, never an English word.
    code_names = "|".join(re.escape(name) for name in names if "_" in name)
    return re.sub(rf"(?<![\w.`'/\\-])({code_names})(?![\w=`'(/\\])", flag_of, message) if code_names else message


def _options(parser, command):
    """`{library name: flag}` of a command: its options' destinations, and its aliases."""
    subparsers = parser._subparsers._group_actions[0].choices if parser._subparsers else {}
    if command not in subparsers:
        return {}
    by_destination = {action.dest: action.option_strings[-1] for action in subparsers[command]._actions
                      if action.option_strings and action.dest != "help"}
    options = dict(by_destination)
    for name, destination in ALIASES.get(command, {}).items():
        if destination in by_destination:
            options[name] = by_destination[destination]
    return options
