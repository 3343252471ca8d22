import lib.extra
