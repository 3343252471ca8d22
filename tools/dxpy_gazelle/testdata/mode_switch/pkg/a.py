from pkg import b
