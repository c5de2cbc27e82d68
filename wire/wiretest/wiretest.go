package wiretest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Convert deep-copies src into *dst by field name, through structs, slices and pointers. It
// fails when the two sides differ in a field's name or tag, so a field added to a wire type
// but not to its shadow (and so perhaps not to its codec) fails the tests.
func Convert(t testing.TB, dst, src any) {
	t.Helper()
	if err := convertValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)); err != nil {
		t.Fatal(err)
	}
}

func convertValue(d, s reflect.Value) error {
	switch s.Kind() {
	case reflect.Struct:
		if d.Kind() != reflect.Struct || d.NumField() != s.NumField() {
			return fmt.Errorf("%s and %s differ in their fields", d.Type(), s.Type())
		}
		for i := 0; i < s.NumField(); i++ {
			sf := s.Type().Field(i)
			df, ok := d.Type().FieldByName(sf.Name)
			if !ok || df.Tag != sf.Tag {
				return fmt.Errorf("%s.%s %q has no twin in %s", s.Type(), sf.Name, sf.Tag, d.Type())
			}
			if err := convertValue(d.FieldByIndex(df.Index), s.Field(i)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if s.IsNil() {
			d.SetZero()
			return nil
		}
		out := reflect.MakeSlice(d.Type(), s.Len(), s.Len())
		for i := 0; i < s.Len(); i++ {
			if err := convertValue(out.Index(i), s.Index(i)); err != nil {
				return err
			}
		}
		d.Set(out)
	case reflect.Pointer:
		if s.IsNil() {
			d.SetZero()
			return nil
		}
		p := reflect.New(d.Type().Elem())
		if err := convertValue(p.Elem(), s.Elem()); err != nil {
			return err
		}
		d.Set(p)
	default:
		if !s.Type().ConvertibleTo(d.Type()) {
			return fmt.Errorf("cannot convert %s to %s", s.Type(), d.Type())
		}
		d.Set(s.Convert(d.Type()))
	}
	return nil
}

// AfterTrip is what v becomes after any msgpack round trip, codec or reflection: omitempty
// drops empty slices, so an empty non-nil one comes back nil, and `msgpack:"-"` fields are not
// sent at all. Fields without omitempty keep nil as nil and empty as empty.
func AfterTrip[T any](v T) T {
	p := reflect.New(reflect.TypeOf(v))
	if err := convertValue(p.Elem(), reflect.ValueOf(v)); err != nil { // a deep copy
		panic(err)
	}
	trip(p.Elem())
	return p.Elem().Interface().(T)
}

func trip(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			tag := v.Type().Field(i).Tag.Get("msgpack")
			f := v.Field(i)
			if tag == "-" || strings.HasSuffix(tag, ",omitempty") && f.Kind() == reflect.Slice && f.Len() == 0 {
				f.SetZero()
			}
			trip(f)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				trip(v.Index(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			trip(v.Elem())
		}
	}
}

// RequireAllSet fails unless every sent field of v, nested ones included, is non-zero, so
// that a "full" test value covers every field.
func RequireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Tag.Get("msgpack") == "-" {
				continue
			}
			if v.Field(i).IsZero() {
				t.Fatalf("%s.%s is zero in the full value", path, f.Name)
			}
			RequireAllSet(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			RequireAllSet(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Pointer:
		RequireAllSet(t, v.Elem(), path)
	}
}

// Variants derives the cases from a full value: the zero value, the full one, each sent field
// alone, and each slice field empty but not nil.
func Variants[T any](t *testing.T, full T) map[string]T {
	RequireAllSet(t, reflect.ValueOf(full), reflect.TypeOf(full).Name())
	out := map[string]T{"zero": *new(T), "full": full}
	fv := reflect.ValueOf(full)
	for i := 0; i < fv.NumField(); i++ {
		f := fv.Type().Field(i)
		one := reflect.New(fv.Type()).Elem()
		one.Field(i).Set(fv.Field(i))
		out["only "+f.Name] = one.Interface().(T)
		if f.Type.Kind() == reflect.Slice {
			empty := reflect.New(fv.Type()).Elem()
			empty.Field(i).Set(reflect.MakeSlice(f.Type, 0, 0))
			out["empty "+f.Name] = empty.Interface().(T)
		}
	}
	return out
}

// MustMarshal encodes v or fails the test.
func MustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}
