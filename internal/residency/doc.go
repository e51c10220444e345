// Package residency keeps pages a process maps from files but does not use
// out of its resident set.
//
// On a read fault in a file mapping, Linux maps the page read and, when
// they are in the page cache, up to 15 of its neighbours (fault-around,
// 64 KiB). For a program's own executable, which is all in the page cache
// once it has run, that maps nearly the whole of it: a router with ten
// checks had 7.3 of its 8.1 MiB of code and 7.8 of its 9.5 MiB of
// read-only data resident, three quarters of its RSS, though it runs a
// small part of that code. The kernel does no fault-around in a range
// registered with a userfaultfd for write-protection (see NoFaultAround),
// so a process that registers the mappings of its executable keeps
// resident the pages it reads, and only those.
package residency
