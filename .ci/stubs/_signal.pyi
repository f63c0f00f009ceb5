# `_signal` is the C half of `signal`: the same functions and constants, without the
# enums (the client commands import it to skip enum's start-up cost). typeshed has
# no stub for it; the functions and constants the commands use are `signal`'s.
from signal import SIG_DFL as SIG_DFL
from signal import SIG_IGN as SIG_IGN
from signal import SIGCHLD as SIGCHLD
from signal import SIGHUP as SIGHUP
from signal import SIGINT as SIGINT
from signal import SIGPIPE as SIGPIPE
from signal import SIGQUIT as SIGQUIT
from signal import SIGTERM as SIGTERM
from signal import SIGUSR1 as SIGUSR1
from signal import SIGUSR2 as SIGUSR2
from signal import SIGWINCH as SIGWINCH
from signal import SIGXFSZ as SIGXFSZ
from signal import set_wakeup_fd as set_wakeup_fd
from signal import getsignal as getsignal
from signal import signal as signal
