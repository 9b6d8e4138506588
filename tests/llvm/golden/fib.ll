; ModuleID = "golden"
target triple = "unknown-unknown-unknown"
target datalayout = ""

@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr}
define internal fastcc {i64, i32} @"rpsfn_6669620000000000.body"(i32 %"room", i64 %"n")
{
entry:
  %"n.addr" = alloca i64
  %"too_deep" = icmp slt i32 %"room", 1
  br i1 %"too_deep", label %"trap.3", label %"start", !prof !0
start:
  store i64 %"n", ptr %"n.addr"
  br label %"b.entry"
trap.3:
  %".4" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 4
  store ptr @".str.0", ptr %".4"
  %".6" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 5
  store ptr @".str.1", ptr %".6"
  ret {i64, i32} {i64 0, i32 3}
b.entry:
  %"n.1" = load i64, ptr %"n.addr"
  %"c" = icmp slt i64 %"n.1", 2
  br i1 %"c", label %"b.then", label %"b.endif"
b.then:
  %".13" = insertvalue {i64, i32} {i64 0, i32 0}, i64 %"n.1", 0
  ret {i64, i32} %".13"
b.endif:
  %"n.2" = load i64, ptr %"n.addr"
  %"t" = sub i64 %"n.2", 1
  %".15" = sub i32 %"room", 1
  %"res" = call fastcc {i64, i32} @"rpsfn_6669620000000000.body"(i32 %".15", i64 %"t")
  %"status" = extractvalue {i64, i32} %"res", 1
  %".16" = icmp ne i32 %"status", 0
  br i1 %".16", label %"propagate", label %"b.endif.cont", !prof !0
b.endif.cont:
  %"r" = extractvalue {i64, i32} %"res", 0
  %"t.1" = sub i64 %"n.2", 2
  %".20" = sub i32 %"room", 1
  %"res.1" = call fastcc {i64, i32} @"rpsfn_6669620000000000.body"(i32 %".20", i64 %"t.1")
  %"status.1" = extractvalue {i64, i32} %"res.1", 1
  %".21" = icmp ne i32 %"status.1", 0
  br i1 %".21", label %"propagate", label %"b.endif.cont.cont", !prof !0
propagate:
  %"status.out" = phi  i32 [%"status", %"b.endif"], [%"status.1", %"b.endif.cont"]
  %".17" = insertvalue {i64, i32} {i64 0, i32 0}, i32 %"status.out", 1
  ret {i64, i32} %".17"
b.endif.cont.cont:
  %"r.1" = extractvalue {i64, i32} %"res.1", 0
  %"t.2" = add i64 %"r", %"r.1"
  %".23" = insertvalue {i64, i32} {i64 0, i32 0}, i64 %"t.2", 0
  ret {i64, i32} %".23"
}

define i32 @"rpsfn_6669620000000000"(ptr %"result", i64 %"n")
{
entry:
  %".4" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1
  %"depth" = load i32, ptr %".4"
  %".5" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 2
  %"limit" = load i32, ptr %".5"
  %"room" = sub i32 %"limit", %"depth"
  %"res" = call fastcc {i64, i32} @"rpsfn_6669620000000000.body"(i32 %"room", i64 %"n")
  %".6" = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1
  store i32 %"depth", ptr %".6"
  %"status" = extractvalue {i64, i32} %"res", 1
  %".8" = icmp eq i32 %"status", 0
  br i1 %".8", label %"ok", label %"failed"
ok:
  %"value" = extractvalue {i64, i32} %"res", 0
  store i64 %"value", ptr %"result"
  ret i32 0
failed:
  ret i32 %"status"
}

@".str.0" = private unnamed_addr constant [4 x i8] c"fib\00"
@".str.1" = private unnamed_addr constant [10 x i8] c"t.rps:1:1\00"
!0 = !{ !"branch_weights", i32 1, i32 1048576 }